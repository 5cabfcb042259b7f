//! The printable audit report: `ceremony verify DIR --report FILE.html`.
//!
//! One self-contained HTML page (no scripts, no external resources, inline CSS for A4 print):
//! the ceremony, the identity key fingerprint in hex and PGP words, the token and binary
//! attestation, the operators with fingerprints and provenance, every validator, the transcript,
//! and every check with its result. A failed check is shown as failed, never omitted. The page
//! holds only what the bundle holds: public data and digests.

use std::fmt::Write as _;
use std::path::Path;

use kc_bundle::bounded::{self, caps};
use kc_bundle::manifest::{files, Manifest};
use kc_bundle::transcript::{Entry, Transcript};
use kc_bundle::verify::Report;

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

const STYLE: &str = "
@page { size: A4; margin: 15mm; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 9.5pt; color: #000; max-width: 180mm; margin: auto; }
h1 { font-size: 15pt; margin-bottom: 2mm; } h2 { font-size: 11.5pt; margin-top: 6mm; border-bottom: 1px solid #000; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0; page-break-inside: auto; }
tr { page-break-inside: avoid; } th, td { border: 1px solid #999; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eee; } code, .mono { font-family: 'DejaVu Sans Mono', monospace; font-size: 8pt; word-break: break-all; }
.ok { color: #060; font-weight: bold; } .fail { color: #b00; font-weight: bold; }
.verdict { font-size: 13pt; padding: 2mm; border: 2px solid; display: inline-block; }
.words { font-style: italic; }
";

fn kv(out: &mut String, key: &str, value: &str) {
    let _ = write!(
        out,
        "<tr><th>{}</th><td class=\"mono\">{}</td></tr>",
        escape(key),
        value
    );
}

/// Renders the report page for the bundle at `dir`, whose verification gave `report`. Reads the
/// manifest and transcript leniently: a bundle too broken to parse still gets a page with every
/// failed check.
pub fn render(dir: &Path, report: &Report) -> String {
    // Through the bundle's bounded reader, like the verification itself.
    let manifest = bounded::read(&dir.join(files::MANIFEST), &caps::manifest())
        .ok()
        .and_then(|(b, _)| Manifest::from_bytes(&b).ok());
    let transcript_cap = caps::transcript(manifest.as_ref().map_or(0, |m| m.validators.len()));
    let transcript: Vec<Entry> = bounded::read_text(&dir.join(files::TRANSCRIPT), &transcript_cap)
        .ok()
        .map(|(t, _)| match Transcript::parse_and_verify(&t) {
            Ok(tr) => tr.entries().to_vec(),
            Err(_) => t
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
        })
        .unwrap_or_default();
    let failed = report.failures().count();
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let title = match &manifest {
        Some(m) => format!("Ceremony audit report: {}", m.ceremony_id),
        None => "Ceremony audit report".to_owned(),
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

    if let Some(m) = &manifest {
        out.push_str("<h2>Ceremony</h2><table>");
        kv(&mut out, "ceremony id", &escape(&m.ceremony_id));
        kv(&mut out, "created", &escape(&m.created_at));
        kv(
            &mut out,
            "network",
            &escape(&format!(
                "{} (fork version {})",
                m.network.name, m.network.fork_version
            )),
        );
        kv(
            &mut out,
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
            &mut out,
            "SSV owner",
            &escape(&format!(
                "{} nonces {}..={}",
                m.owner.address, m.owner.first_nonce, m.owner.last_nonce
            )),
        );
        kv(
            &mut out,
            "master secret",
            &escape(&format!(
                "source {}, fingerprint {}, sealed under {}",
                m.master.seed_source, m.master.fingerprint, m.master.seal_key_label
            )),
        );
        kv(&mut out, "Merkle root", &escape(&m.merkle_root));
        kv(&mut out, "transcript head", &escape(&m.transcript_head));
        out.push_str("</table>");

        out.push_str("<h2>Identity key</h2><table>");
        kv(&mut out, "label", &escape(&m.identity.key_label));
        kv(&mut out, "algorithm", &escape(&m.identity.algorithm));
        kv(
            &mut out,
            "fingerprint (hex)",
            &escape(&grouped(&m.identity.fingerprint)),
        );
        kv(
            &mut out,
            "fingerprint (PGP words)",
            &format!(
                "<span class=\"words\">{}</span>",
                escape(&pgp(&m.identity.fingerprint))
            ),
        );
        kv(&mut out, "public key", &escape(&m.identity.public_key));
        out.push_str("</table>");

        out.push_str("<h2>Binary attestation</h2><table>");
        kv(
            &mut out,
            "tool",
            &escape(&format!("{} {}", m.tool.name, m.tool.version)),
        );
        kv(
            &mut out,
            "git commit",
            &escape(m.tool.git_commit.as_deref().unwrap_or("(unknown)")),
        );
        kv(
            &mut out,
            "executable SHA-256",
            &escape(&m.tool.binary_sha256),
        );
        kv(
            &mut out,
            "Cargo.lock SHA-256",
            &escape(&m.tool.cargo_lock_sha256),
        );
        out.push_str("</table>");
    }

    if let Some(token) = transcript.iter().find(|e| e.step == "hsm.token") {
        out.push_str("<h2>Token attestation</h2><table>");
        for key in [
            "label",
            "manufacturer",
            "model",
            "serial",
            "firmware_version",
            "hardware_version",
        ] {
            if let Some(v) = token.details.get(key) {
                kv(&mut out, key, &escape(v.as_str().unwrap_or(&v.to_string())));
            }
        }
        if let Some(mechs) = token.details.get("mechanisms").and_then(|v| v.as_array()) {
            let list: Vec<String> = mechs
                .iter()
                .map(|m| {
                    let name = m.get("name").and_then(|v| v.as_str()).unwrap_or("?");
                    let ok = m
                        .get("supported")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false);
                    format!("{} {}", if ok { "✓" } else { "✗" }, name)
                })
                .collect();
            kv(&mut out, "mechanisms used", &escape(&list.join(", ")));
        }
        out.push_str("</table>");
    }
    if let Some(keys) = transcript.iter().find(|e| e.step == "hsm.keys") {
        out.push_str(
            "<h2>HSM key attestation</h2><table><tr><th>role</th><th>attributes</th></tr>",
        );
        for role in ["seal", "identity"] {
            if let Some(a) = keys.details.get(role) {
                let _ = write!(
                    out,
                    "<tr><td>{role}</td><td class=\"mono\">{}</td></tr>",
                    escape(&a.to_string())
                );
            }
        }
        out.push_str("</table>");
    }

    if let Some(m) = &manifest {
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
        out.push_str("<table><tr><th>id</th><th>key fingerprint (SHA-256 of the DER)</th><th>PGP words (first 8 bytes)</th></tr>");
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
        out.push_str("</table>");

        let _ = write!(out, "<h2>Validators ({})</h2>", m.validators.len());
        out.push_str("<table><tr><th>index</th><th>public key</th><th>deposit data root</th><th>owner nonce</th></tr>");
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
        out.push_str("</table>");
    }

    out.push_str(
        "<h2>Checks</h2><table><tr><th>result</th><th>check</th><th>where</th><th>detail</th></tr>",
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
            "<tr><td class=\"{class}\">{word}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
            escape(&c.name),
            escape(&place),
            escape(&c.detail)
        );
    }
    out.push_str("</table>");

    let _ = write!(out, "<h2>Transcript ({} entries)</h2>", transcript.len());
    out.push_str("<table><tr><th>#</th><th>time</th><th>step</th><th>actor</th><th>hash</th></tr>");
    for e in &transcript {
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
    out.push_str("</table></body></html>\n");
    out
}
