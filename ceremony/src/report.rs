//! The printable audit report: `ceremony verify DIR --report FILE.html`.
//!
//! One self-contained HTML page (no scripts, no external resources, inline CSS for A4 print):
//! the ceremony, the identity key fingerprint in hex and PGP words, the token and binary
//! attestation, the HSM keys' attributes, the operators with fingerprints and provenance, every
//! validator, the transcript, and every check with its result. A failed check is shown as
//! failed, never omitted. The page holds only what the bundle holds: public data and digests.
//! Printed to A4 it loses nothing: long values wrap inside their cells and every table fits the
//! page width (`ceremony/tests/it/report.rs` prints it with headless Chromium and reads it back).

use std::fmt::Write as _;
use std::path::Path;

use kc_bundle::manifest::Manifest;
use kc_bundle::transcript::steps::{HsmKeys, HsmToken, KeyRecord};
use kc_bundle::transcript::{Entry, Payload};
use kc_bundle::verify::{Audited, Report};

use crate::tui::words;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn pgp(hex_str: &str) -> String {
    words::words_of_hex(hex_str)
        .map(|w| w.join(" "))
        .unwrap_or_else(|| "(not hex)".to_owned())
}

/// Groups hex in fours for reading.
fn grouped(hex_str: &str) -> String {
    hex_str
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Print layout for A4: every table has a fixed layout whose columns add up to the page width
/// (`colgroup`), and every cell wraps what does not fit (hex anywhere, prose at spaces first),
/// so nothing runs past the right margin; header rows repeat on each page and rows do not
/// split.
const STYLE: &str = "
@page { size: A4; margin: 15mm; }
html, body { margin: 0; padding: 0; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 9pt; color: #000; }
h1 { font-size: 15pt; margin: 0 0 2mm; overflow-wrap: anywhere; }
h2 { font-size: 11.5pt; margin: 6mm 0 1mm; border-bottom: 1px solid #000; break-after: avoid; }
p { overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; margin: 2mm 0; }
thead { display: table-header-group; } tr { break-inside: avoid; }
th, td { border: 1px solid #999; padding: 0.8mm 1.2mm; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #eee; font-weight: bold; }
code, .mono { font-family: 'DejaVu Sans Mono', monospace; font-size: 7.5pt; overflow-wrap: anywhere; word-break: break-all; }
.file { font-family: 'DejaVu Sans Mono', monospace; font-size: 7.5pt; overflow-wrap: anywhere; }
.ok { color: #060; font-weight: bold; } .fail { color: #b00; font-weight: bold; }
.verdict { font-size: 13pt; padding: 2mm; border: 2px solid; display: inline-block; }
.words { font-style: italic; }
";

/// Opens a table with fixed column widths (percent of the page width) and a header row.
fn table(out: &mut String, columns: &[(&str, usize)]) {
    debug_assert!(columns.iter().map(|c| c.1).sum::<usize>() <= 100);
    out.push_str("<table><colgroup>");
    for (_, width) in columns {
        let _ = write!(out, "<col style=\"width: {width}%\">");
    }
    out.push_str("</colgroup><thead><tr>");
    for (name, _) in columns {
        let _ = write!(out, "<th>{}</th>", escape(name));
    }
    out.push_str("</tr></thead><tbody>");
}

/// Opens a two-column table of labelled rows ([`kv`]).
fn kv_table(out: &mut String) {
    out.push_str(
        "<table><colgroup><col style=\"width: 24%\"><col style=\"width: 76%\"></colgroup><tbody>",
    );
}

fn end_table(out: &mut String) {
    out.push_str("</tbody></table>");
}

fn kv(out: &mut String, key: &str, value: &str) {
    let _ = write!(
        out,
        "<tr><th>{}</th><td class=\"mono\">{}</td></tr>",
        escape(key),
        value
    );
}

/// The reshare part of the page: kind, source bundle, new cluster, every moved validator.
fn render_reshare(out: &mut String, r: &kc_bundle::reshare::ReshareManifest) {
    out.push_str("<h2>Reshare</h2>");
    kv_table(out);
    kv(
        out,
        "kind",
        "reshare: new key shares for validators already staked (no deposit data)",
    );
    kv(out, "ceremony id", &escape(&r.ceremony_id));
    kv(out, "created", &escape(&r.created_at));
    kv(
        out,
        "source bundle",
        &format!(
            "{} (manifest SHA-256 <code>{}</code>, root <code>{}</code>)",
            escape(&r.source.ceremony_id),
            escape(&r.source.manifest_sha256),
            escape(&r.source.merkle_root)
        ),
    );
    kv(
        out,
        "operators",
        &escape(&format!(
            "{:?} → {:?}",
            r.source.operator_ids,
            r.operators.list.iter().map(|o| o.id).collect::<Vec<_>>()
        )),
    );
    kv(
        out,
        "owner",
        &escape(&format!(
            "{} nonces {}..={}",
            r.owner.address, r.owner.first_nonce, r.owner.last_nonce
        )),
    );
    kv(
        out,
        "reshare root",
        &format!("<code>{}</code>", escape(&r.merkle_root)),
    );
    kv(
        out,
        "identity",
        &format!(
            "<code>{}</code><br><span class=\"words\">{}</span>",
            escape(&grouped(&r.identity.fingerprint)),
            escape(&pgp(&r.identity.fingerprint))
        ),
    );
    end_table(out);
    out.push_str("<h2>Validators moved</h2>");
    table(
        out,
        &[
            ("index", 9),
            ("public key", 47),
            ("owner nonce", 10),
            ("reshare leaf", 34),
        ],
    );
    for v in &r.validators {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            v.index,
            escape(&v.pubkey),
            v.owner_nonce,
            escape(&v.merkle_leaf)
        );
    }
    end_table(out);
}

/// A JSON value of the transcript as text: strings as they are, lists joined, booleans as
/// yes/no.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(true) => "yes".into(),
        serde_json::Value::Bool(false) => "no".into(),
        serde_json::Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        serde_json::Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

/// The attributes of the HSM key attestation (`kc_hsm::KeyAttestation`), in reading order,
/// with the PKCS#11 attribute each one reports.
const KEY_ATTRIBUTES: &[(&str, &str)] = &[
    ("label", "label (CKA_LABEL)"),
    ("id", "id (CKA_ID)"),
    ("class", "class (CKA_CLASS)"),
    ("key_type", "key type (CKA_KEY_TYPE)"),
    ("curve", "curve (CKA_EC_PARAMS)"),
    ("value_len", "length in bytes (CKA_VALUE_LEN)"),
    ("usage", "usage (CKA_ENCRYPT, CKA_SIGN, …)"),
    ("local", "generated in the token (CKA_LOCAL)"),
    ("key_gen_mechanism", "generated by (CKA_KEY_GEN_MECHANISM)"),
    ("sensitive", "sensitive (CKA_SENSITIVE)"),
    (
        "always_sensitive",
        "always sensitive (CKA_ALWAYS_SENSITIVE)",
    ),
    ("extractable", "extractable (CKA_EXTRACTABLE)"),
    (
        "never_extractable",
        "never extractable (CKA_NEVER_EXTRACTABLE)",
    ),
    ("token", "token object (CKA_TOKEN)"),
    ("private", "private (CKA_PRIVATE)"),
    ("modifiable", "modifiable (CKA_MODIFIABLE)"),
    ("copyable", "copyable (CKA_COPYABLE)"),
];

/// Renders the report page for the bundle at `dir`, whose verification gave `report` and read
/// `audited` (`kc_bundle::verify::audit_bundle`): the page shows what verification read and
/// checked, never a second reading of the files. A bundle too broken to parse still gets a page
/// with every failed check.
pub fn render(dir: &Path, report: &Report, audited: &Audited) -> String {
    let manifest = audited.manifest.as_ref();
    let reshare = audited.reshare.as_ref();
    let transcript = &audited.transcript;
    let failed = report.failures().count();
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let title = match (manifest, reshare) {
        (Some(m), _) => format!("Ceremony audit report: {}", m.ceremony_id),
        (None, Some(r)) => format!("Reshare audit report: {}", r.ceremony_id),
        (None, None) => "Ceremony audit report".to_owned(),
    };
    let _ = write!(
        out,
        "<title>{}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(out, "<h1>{}</h1>", escape(&title));
    let (class, verdict) = if report.ok() {
        (
            "ok",
            format!("VERIFIED: all {} checks passed", report.checks.len()),
        )
    } else {
        (
            "fail",
            format!("FAILED: {failed} of {} checks failed", report.checks.len()),
        )
    };
    let _ = write!(out, "<p class=\"verdict {class}\">{}</p>", escape(&verdict));
    let signer = report.signed_by.as_deref().unwrap_or("an unreadable key");
    let (class, identity) = if report.identity_pinned {
        ("ok", format!("Signed by the pinned identity {signer}."))
    } else {
        (
            "fail",
            format!(
                "Identity NOT pinned: signed by {signer}, which anyone could have made. \
                 Verify with --identity to pin the key you trust."
            ),
        )
    };
    let _ = write!(out, "<p class=\"{class}\">{}</p>", escape(&identity));
    let _ = write!(
        out,
        "<p>Bundle <code>{}</code>.</p>",
        escape(&dir.display().to_string())
    );

    if let Some(r) = reshare {
        render_reshare(&mut out, r);
    }
    if let Some(m) = manifest {
        ceremony_section(&mut out, m);
    }
    if let Some(token) = payload::<HsmToken>(transcript) {
        token_section(&mut out, &token);
    }
    if let Some(keys) = payload::<HsmKeys>(transcript) {
        keys_section(&mut out, &keys);
    }
    if let Some(m) = manifest {
        operators_section(&mut out, m);
        validators_section(&mut out, m);
    }
    checks_section(&mut out, report);
    transcript_section(&mut out, transcript);
    out.push_str("</body></html>\n");
    out
}

/// The ceremony, its identity key and the binary that ran it (from the manifest).
fn ceremony_section(out: &mut String, m: &Manifest) {
    out.push_str("<h2>Ceremony</h2>");
    kv_table(out);
    kv(out, "ceremony id", &escape(&m.ceremony_id));
    kv(out, "created", &escape(&m.created_at));
    kv(
        out,
        "network",
        &escape(&format!(
            "{} (fork version {})",
            m.network.name, m.network.fork_version
        )),
    );
    kv(
        out,
        "withdrawal",
        &escape(&format!(
            "{} type {} credentials {} amount {} gwei",
            m.withdrawal.address,
            m.withdrawal.kind,
            m.withdrawal.credentials,
            m.withdrawal.amount_gwei
        )),
    );
    kv(
        out,
        "SSV owner",
        &escape(&format!(
            "{} nonces {}..={}",
            m.owner.address, m.owner.first_nonce, m.owner.last_nonce
        )),
    );
    kv(
        out,
        "master secret",
        &escape(&format!(
            "source {}, fingerprint {}, sealed under {}",
            m.master.seed_source, m.master.fingerprint, m.master.seal_key_label
        )),
    );
    kv(out, "Merkle root", &escape(&m.merkle_root));
    kv(out, "transcript head", &escape(&m.transcript_head));
    end_table(out);

    out.push_str("<h2>Identity key</h2>");
    kv_table(out);
    kv(out, "label", &escape(&m.identity.key_label));
    kv(out, "algorithm", &escape(&m.identity.algorithm));
    kv(
        out,
        "fingerprint (hex)",
        &escape(&grouped(&m.identity.fingerprint)),
    );
    kv(
        out,
        "fingerprint (PGP words)",
        &format!(
            "<span class=\"words\">{}</span>",
            escape(&pgp(&m.identity.fingerprint))
        ),
    );
    kv(out, "public key", &escape(&m.identity.public_key));
    end_table(out);

    out.push_str("<h2>Binary attestation</h2>");
    kv_table(out);
    kv(
        out,
        "tool",
        &escape(&format!("{} {}", m.tool.name, m.tool.version)),
    );
    kv(
        out,
        "git commit",
        &escape(m.tool.git_commit.as_deref().unwrap_or("(unknown)")),
    );
    kv(out, "executable SHA-256", &escape(&m.tool.binary_sha256));
    kv(
        out,
        "Cargo.lock SHA-256",
        &escape(&m.tool.cargo_lock_sha256),
    );
    end_table(out);
}

/// The first entry of `P`'s step, read as `P` (none when it is missing or does not parse: its
/// check failed and is shown).
fn payload<P: Payload>(transcript: &[Entry]) -> Option<P> {
    transcript
        .iter()
        .find(|e| e.step == P::STEP)
        .and_then(|e| e.payload().ok())
}

/// The token the ceremony ran on (transcript step `hsm.token`).
fn token_section(out: &mut String, token: &HsmToken) {
    out.push_str("<h2>Token attestation</h2>");
    kv_table(out);
    for (key, v) in [
        ("label", &token.label),
        ("manufacturer", &token.manufacturer),
        ("model", &token.model),
        ("serial", &token.serial),
        ("firmware_version", &token.firmware_version),
        ("hardware_version", &token.hardware_version),
    ] {
        kv(out, key, &escape(v));
    }
    let text = token
        .library
        .iter()
        .map(|(k, v)| format!("{k} {}", plain(v)))
        .collect::<Vec<_>>()
        .join(", ");
    kv(out, "PKCS#11 module", &escape(&text));
    let list: Vec<String> = token
        .mechanisms
        .iter()
        .map(|m| format!("{} {}", if m.supported { "✓" } else { "✗" }, m.name))
        .collect();
    kv(out, "mechanisms used", &escape(&list.join(", ")));
    for (key, v) in &token.other {
        kv(out, &key.replace('_', " "), &escape(&plain(v)));
    }
    end_table(out);
}

/// The HSM keys' attributes as the token reported them (transcript step `hsm.keys`): one row
/// per attribute, one column per key. Attributes this page does not know are shown under their
/// own names, and the step's other fields as labelled rows: nothing is left out.
fn keys_section(out: &mut String, keys: &HsmKeys) {
    let mut roles: Vec<(&str, &KeyRecord)> = vec![("identity", &keys.identity)];
    if let Some(seal) = &keys.seal {
        roles.push(("seal", seal));
    }
    out.push_str("<h2>HSM key attestation</h2>");
    let value_width = (64 / roles.len()).max(1);
    let mut columns = vec![(
        "attribute",
        100usize.saturating_sub(value_width * roles.len()),
    )];
    columns.extend(roles.iter().map(|(name, _)| (*name, value_width)));
    table(out, &columns);
    let mut names: Vec<(&str, String)> = KEY_ATTRIBUTES
        .iter()
        .map(|(k, label)| (*k, (*label).to_owned()))
        .collect();
    for (_, attrs) in &roles {
        for k in attrs.0.keys() {
            if k != "role" && !names.iter().any(|(n, _)| n == k) {
                names.push((k.as_str(), k.clone()));
            }
        }
    }
    for (key, label) in names {
        if roles.iter().all(|(_, a)| !a.0.contains_key(key)) {
            continue;
        }
        let _ = write!(out, "<tr><th>{}</th>", escape(&label));
        for (_, attrs) in &roles {
            let cell = attrs.0.get(key).map_or_else(|| "—".to_owned(), plain);
            let _ = write!(out, "<td class=\"mono\">{}</td>", escape(&cell));
        }
        out.push_str("</tr>");
    }
    end_table(out);
    kv_table(out);
    kv(
        out,
        "identity public key",
        &escape(&keys.identity_public_key),
    );
    // `seal_backend.backend` reads "seal backend", `.key_label` "seal backend key label".
    for (k, field) in keys.seal_backend.iter().flatten() {
        let label = if k == "backend" {
            "seal backend".to_owned()
        } else {
            format!("seal backend {}", k.replace('_', " "))
        };
        kv(out, &label, &escape(&plain(field)));
    }
    end_table(out);
}

/// The operators, their key fingerprints and where the keys were read.
fn operators_section(out: &mut String, m: &Manifest) {
    out.push_str("<h2>Operators</h2>");
    match &m.operators.provenance {
        Some(p) => {
            let _ = write!(
                out,
                "<p>Keys read on chain {} from the SSV network contract <code>{}</code> at block {} (<code>{}</code>), exported {}.</p>",
                p.chain_id,
                escape(&p.ssv_network),
                p.block_number,
                escape(&p.block_hash),
                escape(&p.exported_at)
            );
        }
        None => out.push_str("<p class=\"fail\">UNPINNED: the operators file had no provenance (allowed by the plan).</p>"),
    }
    table(
        out,
        &[
            ("id", 12),
            ("key fingerprint (SHA-256 of the DER)", 44),
            ("PGP words (first 8 bytes)", 44),
        ],
    );
    for o in &m.operators.list {
        let short = o.fingerprint.get(..16).unwrap_or(&o.fingerprint);
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"words\">{}</td></tr>",
            o.id,
            escape(&o.fingerprint),
            escape(&pgp(short))
        );
    }
    end_table(out);
}

/// Every validator: index, public key, deposit data root, owner nonce.
fn validators_section(out: &mut String, m: &Manifest) {
    let _ = write!(out, "<h2>Validators ({})</h2>", m.validators.len());
    table(
        out,
        &[
            ("index", 9),
            ("public key", 47),
            ("deposit data root", 34),
            ("owner nonce", 10),
        ],
    );
    for v in &m.validators {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
            v.index,
            escape(&v.pubkey),
            escape(&v.deposit_data_root),
            v.owner_nonce
        );
    }
    end_table(out);
}

/// Every check with its result; a failed check is shown as failed, never left out.
fn checks_section(out: &mut String, report: &Report) {
    out.push_str("<h2>Checks</h2>");
    table(
        out,
        &[("result", 10), ("check", 23), ("where", 19), ("detail", 48)],
    );
    for c in &report.checks {
        let (class, word) = if c.ok {
            ("ok", "passed")
        } else {
            ("fail", "FAILED")
        };
        let place = if c.field.is_empty() {
            c.file.clone()
        } else {
            format!("{} {}", c.file, c.field)
        };
        let _ = write!(
            out,
            "<tr><td class=\"{class}\">{word}</td><td>{}</td><td class=\"file\">{}</td><td>{}</td></tr>",
            escape(&c.name),
            escape(&place),
            escape(&c.detail)
        );
    }
    end_table(out);
}

/// The transcript's entries, each with its hash.
fn transcript_section(out: &mut String, transcript: &[Entry]) {
    let _ = write!(out, "<h2>Transcript ({} entries)</h2>", transcript.len());
    table(
        out,
        &[
            ("#", 5),
            ("time", 24),
            ("step", 22),
            ("actor", 13),
            ("hash", 36),
        ],
    );
    for e in transcript {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            e.seq,
            escape(&e.time),
            escape(&e.step),
            escape(&e.actor),
            escape(&e.hash)
        );
    }
    end_table(out);
}
