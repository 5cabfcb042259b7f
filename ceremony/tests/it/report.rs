//! `ceremony verify --report FILE.html` (issue #9): one self-contained page that parses as HTML,
//! lists every validator and operator, marks failed checks, and never overwrites a file.

use std::path::Path;
use std::process::Command;

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
