//! `ceremony verify --report FILE.html`: one self-contained page that parses as HTML, lists
//! every validator and operator, marks failed checks, never overwrites a file, and prints whole
//! on A4 (headless Chromium prints it to PDF; poppler's `pdftotext` reads it back).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// Parses the page with Python's HTML parser and checks that every non-void element is closed
/// in order (a structural check; the parser itself accepts almost anything).
fn assert_well_formed_html(path: &Path) {
    let python = std::env::var("KC_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import sys, html.parser
VOID = {"meta", "br", "hr", "img", "link", "input", "col", "wbr"}
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.tags = 0
    def handle_starttag(self, tag, attrs):
        self.tags += 1
        if tag not in VOID:
            self.stack.append(tag)
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            sys.exit(f"unbalanced </{tag}> after {self.stack[-5:]}")
        self.stack.pop()
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
p.close()
if p.stack:
    sys.exit(f"unclosed elements: {p.stack}")
if p.tags < 50:
    sys.exit(f"only {p.tags} elements")
"#;
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python runs (run make tools)");
    assert!(
        out.status.success(),
        "{} is not well-formed HTML: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn report_lists_every_validator_and_operator_and_is_self_contained() {
    let ws = &mut Workspace::new(7);
    let mut plan = ws.plan();
    plan.validators = 3;
    let dir = ws.run_ok(&plan, "bundle");
    let html_path = ws.path().join("report.html");
    ws.verify(&dir, &["--report", html_path.to_str().unwrap()])
        .ok();
    assert_well_formed_html(&html_path);
    let html = std::fs::read_to_string(&html_path).unwrap();
    let m = read_json(&dir.join("manifest.json"));
    assert!(html.contains("VERIFIED"), "verdict shown");
    for v in m["validators"].as_array().unwrap() {
        assert!(
            html.contains(v["pubkey"].as_str().unwrap()),
            "validator {} listed",
            v["index"]
        );
        assert!(html.contains(v["deposit_data_root"].as_str().unwrap()));
    }
    for o in m["operators"]["list"].as_array().unwrap() {
        assert!(
            html.contains(&format!("<td>{}</td>", o["id"])),
            "operator {} listed",
            o["id"]
        );
        assert!(html.contains(o["fingerprint"].as_str().unwrap()));
    }
    assert!(html.contains(
        m["identity"]["fingerprint"]
            .as_str()
            .unwrap()
            .get(..4)
            .unwrap()
    ));
    assert!(
        html.contains(m["tool"]["binary_sha256"].as_str().unwrap()),
        "binary attestation shown"
    );
    assert!(html.contains("SoftHSM"), "token attestation shown");
    assert!(html.contains(m["merkle_root"].as_str().unwrap()));
    let lower = html.to_lowercase();
    for banned in [
        "<script", "http://", "https://", "src=", "<link", "@import", "url(",
    ] {
        assert!(
            !lower.contains(banned),
            "the page must be self-contained: found {banned:?}"
        );
    }
    // Never overwritten.
    let again = ws.verify(&dir, &["--report", html_path.to_str().unwrap()]);
    assert_ne!(again.code(), Some(0), "an existing report file is refused");
    assert_eq!(std::fs::read_to_string(&html_path).unwrap(), html);
}

#[test]
fn report_of_a_tampered_bundle_shows_the_failed_check() {
    let ws = &mut Workspace::new(4);
    let mut plan = ws.plan();
    plan.validators = 2;
    let dir = ws.run_ok(&plan, "bundle");
    let dd = dir.join("deposit_data.json");
    let mut bytes = std::fs::read(&dd).unwrap();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    std::fs::write(&dd, bytes).unwrap();
    let html_path = ws.path().join("tampered.html");
    ws.verify(&dir, &["--report", html_path.to_str().unwrap()])
        .expect_code(6);
    assert_well_formed_html(&html_path);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("FAILED:"), "the verdict says failed");
    assert!(
        html.contains("<td class=\"fail\">FAILED</td><td>files.hashes</td>"),
        "the hash check of deposit_data.json is shown as failed"
    );
    assert!(html.contains("deposit_data.json"));
}

/// One word of `pdftotext -bbox`: its page and its box in points (origin top left).
#[derive(Debug)]
struct Word {
    page: usize,
    x_min: f64,
    y_min: f64,
    x_max: f64,
    y_max: f64,
    text: String,
}

/// A PDF page's size in points.
#[derive(Debug)]
struct Page {
    width: f64,
    height: f64,
}

/// The value of `name="…"` in a tag of `pdftotext -bbox` output.
fn attr(tag: &str, name: &str) -> f64 {
    let start = tag
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + name.len()
        + 2;
    let end = start + tag[start..].find('"').unwrap();
    tag[start..end].parse().unwrap()
}

/// Pages and words of `pdf`, from `pdftotext -bbox` (an XHTML page per PDF page, a `<word>`
/// element per word with its bounding box).
fn pdf_words(pdf: &Path) -> (Vec<Page>, Vec<Word>) {
    let out = Command::new("pdftotext")
        .arg("-bbox")
        .arg(pdf)
        .arg("-")
        .output()
        .expect("run pdftotext (run make tools)");
    assert!(out.status.success(), "pdftotext -bbox failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let (mut pages, mut words) = (Vec::new(), Vec::new());
    for chunk in text.split("<page ").skip(1) {
        let tag = &chunk[..chunk.find('>').unwrap()];
        pages.push(Page {
            width: attr(tag, "width"),
            height: attr(tag, "height"),
        });
        for w in chunk.split("<word ").skip(1) {
            let close = w.find('>').unwrap();
            let tag = &w[..close];
            let body = &w[close + 1..w.find("</word>").unwrap()];
            words.push(Word {
                page: pages.len(),
                x_min: attr(tag, "xMin"),
                y_min: attr(tag, "yMin"),
                x_max: attr(tag, "xMax"),
                y_max: attr(tag, "yMax"),
                text: body
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&amp;", "&"),
            });
        }
    }
    (pages, words)
}

/// Prints `html` to `pdf` with headless Chromium (Debian's `chromium`, installed by
/// scripts/install-apt.sh): A4 from the page's own `@page` rule, no header or footer, a fresh
/// profile and home under `scratch`, nothing fetched from the network. Fails after two minutes.
fn print_to_pdf(html: &Path, pdf: &Path, scratch: &Path) {
    require_tool("chromium");
    let profile = scratch.join("chromium-profile");
    let home = scratch.join("chromium-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run chromium (run make tools)");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not print {} within two minutes",
                html.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "chromium --print-to-pdf failed: {status}");
    assert!(pdf.is_file(), "chromium wrote no {}", pdf.display());
}

/// `s` without any whitespace (a value wrapped over lines reads back with line breaks in it).
fn squeezed(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The report of a 12-validator bundle printed to A4: every page is A4, no word runs past the
/// 15 mm margins or was shrunk to fit, and every check's full detail, every validator's public
/// key and deposit data root, every operator fingerprint and every transcript hash can be read
/// back from the PDF. The HSM key attestation reads as labelled rows, not raw JSON.
#[test]
fn report_of_twelve_validators_prints_whole_on_a4() {
    require_tool("pdftotext");
    let ws = &mut Workspace::new(7);
    let mut plan = ws.plan();
    plan.validators = 12;
    let dir = ws.run_ok(&plan, "bundle");
    let html = ws.path().join("report.html");
    let identity = ws.identity.clone().unwrap();
    let run = ws.verify(
        &dir,
        &[
            "--identity",
            &identity,
            "--json",
            "--report",
            html.to_str().unwrap(),
        ],
    );
    run.ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("always_sensitive") && !page.contains("{&quot;"),
        "the key attestation is shown as rows, not as JSON"
    );

    let pdf = ws.path().join("report.pdf");
    print_to_pdf(&html, &pdf, ws.path());
    let (pages, words) = pdf_words(&pdf);
    assert!(
        (2..=12).contains(&pages.len()),
        "{} pages for 12 validators",
        pages.len()
    );
    // A4 in points, and the report's 15 mm margins (1 pt of slack for glyph overhang).
    let margin = 15.0 / 25.4 * 72.0 - 1.0;
    for p in &pages {
        assert!(
            (p.width - 595.0).abs() < 1.5 && (p.height - 842.0).abs() < 1.5,
            "not A4: {p:?}"
        );
    }
    assert!(words.len() > 500, "{} words read back", words.len());
    for w in &words {
        let p = &pages[w.page - 1];
        assert!(
            w.x_min >= margin
                && w.x_max <= p.width - margin
                && w.y_min >= margin
                && w.y_max <= p.height - margin,
            "page {}: {:?} runs into the margin ({:.1}..{:.1} of {:.1} pt wide)",
            w.page,
            w.text,
            w.x_min,
            w.x_max,
            p.width
        );
        // The smallest type on the page is 7.5 pt; a page shrunk to fit would be smaller.
        assert!(
            w.y_max - w.y_min >= 6.5,
            "page {}: {:?} is {:.1} pt high: the page was shrunk to fit",
            w.page,
            w.text,
            w.y_max - w.y_min
        );
    }

    // The text in reading order: each table cell comes out as one block, so a value wrapped
    // over lines is whole once the line breaks are removed.
    let out = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("run pdftotext");
    assert!(out.status.success());
    let text = squeezed(&String::from_utf8(out.stdout).unwrap());
    let must_read = |what: &str, value: &str| {
        assert!(
            text.contains(&squeezed(value)),
            "{what} {value:?} cannot be read back from the printed report"
        );
    };
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 15, "{checks:?}");
    for c in checks {
        let name = c["name"].as_str().unwrap();
        must_read("check", name);
        must_read(
            &format!("the detail of check {name}"),
            c["detail"].as_str().unwrap(),
        );
    }
    let m = read_json(&dir.join("manifest.json"));
    let validators = m["validators"].as_array().unwrap();
    assert_eq!(validators.len(), 12);
    for v in validators {
        must_read("validator public key", v["pubkey"].as_str().unwrap());
        must_read(
            "deposit data root",
            v["deposit_data_root"].as_str().unwrap(),
        );
    }
    for o in m["operators"]["list"].as_array().unwrap() {
        must_read("operator fingerprint", o["fingerprint"].as_str().unwrap());
    }
    must_read("identity public key", &identity);
    must_read("Merkle root", m["merkle_root"].as_str().unwrap());
    for line in std::fs::read_to_string(dir.join("transcript.jsonl"))
        .unwrap()
        .lines()
    {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        must_read("transcript hash", e["hash"].as_str().unwrap());
    }
    for row in [
        "sensitive (CKA_SENSITIVE)",
        "never extractable (CKA_NEVER_EXTRACTABLE)",
        "generated in the token (CKA_LOCAL)",
        "CKM_AES_KEY_GEN",
        "CKM_EC_KEY_PAIR_GEN",
    ] {
        must_read("key attestation row", row);
    }
}
