//! A ceremony plan whose every field can be set, overridden with raw TOML or left out.

/// Every field of a plan, rendered to TOML. `raw` overrides (or adds) `section.key = <raw TOML>`,
/// `remove` drops a `section.key` or a whole `section`, `top` adds raw lines before the first
/// section.
#[derive(Debug, Clone)]
pub struct PlanSpec {
    pub id: String,
    pub network: String,
    pub fork_version: Option<String>,
    pub validators: u32,
    pub start_index: u32,
    pub withdrawal_address: String,
    pub withdrawal_type: String,
    pub amount_gwei: u64,
    pub owner_address: String,
    pub owner_nonce: u64,
    pub operators_file: String,
    pub allow_unpinned_operators: Option<bool>,
    pub module: String,
    pub token_label: String,
    pub seal_key_label: Option<String>,
    pub identity_key_label: Option<String>,
    pub seed_source: String,
    pub mnemonic_file: Option<String>,
    pub raw: Vec<(String, String)>,
    pub remove: Vec<String>,
    pub top: Vec<String>,
}

/// A table of the plan: its name and its keys with their rendered values (`None`: left out).
type Section<'a> = (&'a str, Vec<(&'a str, Option<String>)>);

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

impl PlanSpec {
    /// Sets `section.key` to a raw TOML value (replacing the typed one).
    pub fn raw(mut self, key: &str, value: &str) -> Self {
        self.raw.push((key.to_owned(), value.to_owned()));
        self
    }
    /// Drops `section.key` or `section`.
    pub fn remove(mut self, key: &str) -> Self {
        self.remove.push(key.to_owned());
        self
    }

    pub fn render(&self) -> String {
        let s = |v: &str| Some(toml_str(v));
        let sections: Vec<Section<'_>> = vec![
            (
                "ceremony",
                vec![
                    ("id", s(&self.id)),
                    ("network", s(&self.network)),
                    ("fork_version", self.fork_version.as_deref().map(toml_str)),
                    ("validators", Some(self.validators.to_string())),
                    ("start_index", Some(self.start_index.to_string())),
                ],
            ),
            (
                "deposit",
                vec![
                    ("withdrawal_address", s(&self.withdrawal_address)),
                    ("withdrawal_type", s(&self.withdrawal_type)),
                    ("amount_gwei", Some(self.amount_gwei.to_string())),
                ],
            ),
            (
                "ssv",
                vec![
                    ("owner_address", s(&self.owner_address)),
                    ("owner_nonce", Some(self.owner_nonce.to_string())),
                    ("operators_file", s(&self.operators_file)),
                    (
                        "allow_unpinned_operators",
                        self.allow_unpinned_operators.map(|b| b.to_string()),
                    ),
                ],
            ),
            (
                "hsm",
                vec![
                    ("module", s(&self.module)),
                    ("token_label", s(&self.token_label)),
                    (
                        "seal_key_label",
                        self.seal_key_label.as_deref().map(toml_str),
                    ),
                    (
                        "identity_key_label",
                        self.identity_key_label.as_deref().map(toml_str),
                    ),
                ],
            ),
            (
                "seed",
                vec![
                    ("source", s(&self.seed_source)),
                    ("mnemonic_file", self.mnemonic_file.as_deref().map(toml_str)),
                ],
            ),
        ];
        let mut out = String::from("# written by the ceremony integration tests\n");
        for line in &self.top {
            out.push_str(line);
            out.push('\n');
        }
        for (section, fields) in sections {
            if self.remove.iter().any(|r| r == section) {
                continue;
            }
            out.push_str(&format!("\n[{section}]\n"));
            let mut keys: Vec<(String, Option<String>)> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            for (path, raw) in &self.raw {
                if let Some((sec, key)) = path.split_once('.') {
                    if sec == section {
                        match keys.iter_mut().find(|(k, _)| k == key) {
                            Some(slot) => slot.1 = Some(raw.clone()),
                            None => keys.push((key.to_owned(), Some(raw.clone()))),
                        }
                    }
                }
            }
            for (key, value) in keys {
                if self.remove.contains(&format!("{section}.{key}")) {
                    continue;
                }
                if let Some(v) = value {
                    out.push_str(&format!("{key} = {v}\n"));
                }
            }
        }
        out
    }
}
