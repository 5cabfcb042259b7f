//! `ceremony`: the air-gapped key ceremony appliance (thin command line over the library).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ceremony::buildinfo::ToolIdentity;
use ceremony::pipeline::{self, MasterSource, People, Progress, RunConfig};
use ceremony::{hygiene, Error};
use clap::{Parser, Subcommand};
use kc_bundle::plan::Plan;
use kc_bundle::verify::{self, Report, VerifyOptions};
use kc_hsm::{Module, SealBackend, SecretString};

const EXIT_CODES: &str =
    "Exit codes: 0 success; 1 other error; 2 bad plan or input; 3 output exists; \
4 HSM error; 5 ledger clash (index or nonce reused); 6 verification failed; \
7 verified, but the identity was not pinned (give --identity, or --allow-unpinned-identity); \
130 cancelled.";

/// `ceremony verify`: every check passed, but no identity was pinned (see [`EXIT_CODES`]).
const EXIT_UNPINNED: u8 = 7;
/// `ceremony verify`: a check failed.
const EXIT_VERIFY_FAILED: u8 = 6;

#[derive(Parser)]
#[command(name = "ceremony", version, about = "Air-gapped key ceremony for SSV staking pools", after_help = EXIT_CODES)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    /// Without a subcommand: the TUI (`ceremony tui`), which asks for the plan if not given.
    #[command(flatten)]
    tui: TuiArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The environment variable that holds the PIN when no `--pin-file` is given.
const PIN_ENV: &str = "CEREMONY_PIN";

#[derive(clap::Args)]
struct PinArgs {
    /// File holding the token's user PIN on its first line (only the line ending is removed;
    /// a PIN with surrounding whitespace is refused). Else CEREMONY_PIN.
    #[arg(long)]
    pin_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The ceremony plan (strict TOML).
    #[arg(long)]
    plan: PathBuf,
    /// The bundle directory to create (must not exist).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    pin: PinArgs,
    /// The ceremony administrator's name (recorded in the transcript).
    #[arg(long)]
    administrator: Option<String>,
    /// A witness's name (recorded in the transcript); repeat for each witness.
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// An earlier bundle whose indices and nonces must not be reused; repeat for each.
    #[arg(long = "previous")]
    previous: Vec<PathBuf>,
    /// Run even if memory cannot be locked (development machines only).
    #[arg(long)]
    allow_unlocked_memory: bool,
}

#[derive(clap::Args)]
struct TuiArgs {
    /// The ceremony plan (strict TOML).
    #[arg(long)]
    plan: Option<PathBuf>,
    /// The bundle directory to create (must not exist); default: ./<ceremony id>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// An earlier bundle whose indices and nonces must not be reused; repeat for each.
    #[arg(long = "previous")]
    previous: Vec<PathBuf>,
    /// Run even if memory cannot be locked (development machines only).
    #[arg(long)]
    allow_unlocked_memory: bool,
}

#[derive(Subcommand)]
enum Command {
    /// The ceremony wizard in the terminal (keyboard only), over the same pipeline as `run`.
    Tui(TuiArgs),
    /// HSM administration.
    Hsm {
        #[command(subcommand)]
        command: HsmCommand,
    },
    /// Run a ceremony headless: plan in, signed and verified bundle out.
    Run(RunArgs),
    /// Verify a bundle (auditors): every signature, root, hash and the transcript chain.
    Verify {
        /// The bundle directory.
        bundle: PathBuf,
        /// The trusted identity public key (hex, SEC1) to pin. Without it, a bundle signed by
        /// anyone's key can verify: the result says so and the exit code is 7.
        #[arg(long)]
        identity: Option<String>,
        /// Accept a bundle without a pinned identity (exit 0 instead of 7); the summary and
        /// --json still say that the identity is NOT pinned.
        #[arg(long, conflicts_with = "identity")]
        allow_unpinned_identity: bool,
        /// The expected SHA-256 of the ceremony executable that made the bundle.
        #[arg(long)]
        expect_binary: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also write a printable, self-contained HTML audit report (A4) to this new file.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Move validators of an earlier bundle to a new cluster of operators: verify the --from
    /// bundle (pinned to this HSM's identity), unseal its master secret with the HSM, split the
    /// named validators' keys for the new operators and write a signed, verified bundle of kind
    /// `reshare` (new keyshares.json, no deposit data). The plan names the validators, the new
    /// operators file and the first owner nonce.
    /// `--plan` is the reshare plan (reshare.toml); `--previous` names earlier bundles (staking
    /// or reshare) whose owner nonces may not be reused.
    Reshare {
        /// The bundle whose validators move (its master secret is unsealed by the HSM).
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Unseal an earlier bundle's master secret with the HSM and run a plan with it: extend
    /// the batch (new indices and nonces) or, with --recreate, re-create it (recovery drill).
    Recover {
        /// The bundle whose sealed master secret to use.
        #[arg(long)]
        from: PathBuf,
        /// Re-create: the new plan may reuse the indices and nonces of --from.
        #[arg(long)]
        recreate: bool,
        #[command(flatten)]
        run: RunArgs,
    },
}

#[derive(Subcommand)]
enum HsmCommand {
    /// Provision the seal key and the identity key in a token; print the identity public key.
    Init {
        /// PKCS#11 module.
        #[arg(long, env = "KC_PKCS11_MODULE", default_value = kc_hsm::SOFTHSM_MODULE)]
        module: PathBuf,
        /// Token label.
        #[arg(long)]
        token: String,
        /// The token's serial number, when tokens share a label.
        #[arg(long)]
        token_serial: Option<String>,
        /// The seal backend: `auto` (AES-GCM where the token passes its preflight and trial,
        /// else RSA-OAEP), `aes-256-gcm` or `rsa-oaep`.
        #[arg(long, default_value = "auto", value_parser = parse_backend)]
        seal_backend: BackendArg,
        #[arg(long, default_value = "kc-seal")]
        seal_label: String,
        #[arg(long, default_value = "kc-identity")]
        identity_label: String,
        #[command(flatten)]
        pin: PinArgs,
        /// Print the result as one JSON object (for scripts) instead of aligned text.
        #[arg(long)]
        json: bool,
    },
}

/// `--seal-backend`: `auto` or a backend name.
#[derive(Clone, Copy)]
struct BackendArg(Option<SealBackend>);

fn parse_backend(s: &str) -> Result<BackendArg, String> {
    if s == "auto" {
        return Ok(BackendArg(None));
    }
    SealBackend::parse(s)
        .map(|b| BackendArg(Some(b)))
        .ok_or_else(|| format!("expected auto, aes-256-gcm or rsa-oaep, found {s:?}"))
}

/// The PIN from `--pin-file` (its first line) or `CEREMONY_PIN`, under `kc_hsm::pin`'s rule.
fn read_pin(args: &PinArgs) -> Result<SecretString, Error> {
    kc_hsm::pin::read(args.pin_file.as_deref(), PIN_ENV).map_err(|e| match e {
        kc_hsm::Error::PinMissing { .. } => Error::Input {
            what: "PIN".into(),
            detail: format!("give --pin-file FILE or set {PIN_ENV} (the TUI asks for it instead)"),
        },
        other => Error::Input {
            what: if args.pin_file.is_some() {
                "--pin-file"
            } else {
                "PIN"
            }
            .into(),
            detail: other.to_string(),
        },
    })
}

/// Progress on stderr: a bar on a terminal, plain lines otherwise.
struct StderrProgress {
    bar: Option<indicatif::ProgressBar>,
    last_decile: std::sync::atomic::AtomicUsize,
}

impl StderrProgress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:12} [{bar:40}] {pos}/{len} validators, {elapsed} (eta {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Self {
            bar,
            last_decile: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl Progress for StderrProgress {
    fn stage(&self, name: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(name.to_owned()),
            None => eprintln!("ceremony: {name}"),
        }
    }
    fn validators(&self, done: usize, total: usize) {
        match &self.bar {
            Some(bar) => bar.set_position(done as u64),
            None => {
                let decile = done * 10 / total.max(1);
                let prev = self
                    .last_decile
                    .fetch_max(decile, std::sync::atomic::Ordering::Relaxed);
                if decile > prev || done == total {
                    eprintln!("ceremony: validators {done}/{total}");
                }
            }
        }
    }
}

fn run_ceremony(
    args: RunArgs,
    master: MasterSource,
    extra_previous: Option<PathBuf>,
) -> Result<(), Error> {
    let hygiene = hygiene::harden(args.allow_unlocked_memory)?;
    if !hygiene.memory_locked {
        eprintln!("ceremony: WARNING: memory is not locked (--allow-unlocked-memory); secrets may reach swap");
    }
    let plan = Plan::load(&args.plan)?;
    let pin = read_pin(&args.pin)?;
    let tool = ToolIdentity::current().map_err(|e| Error::Input {
        what: "the running executable".into(),
        detail: e.to_string(),
    })?;
    let mut previous = args.previous;
    previous.extend(extra_previous);
    let cfg = RunConfig {
        out: args.out,
        pin,
        people: People {
            administrator: args.administrator,
            witnesses: args.witnesses,
        },
        previous,
        master,
        hygiene,
        tool,
    };
    let progress = StderrProgress::new(u64::from(plan.count()));
    let outcome = pipeline::run(&plan, &cfg, &progress)?;
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    let m = &outcome.manifest;
    println!("bundle        {}", outcome.dir.display());
    println!("ceremony      {}", m.ceremony_id);
    println!(
        "network       {} (fork version {})",
        m.network.name, m.network.fork_version
    );
    println!(
        "validators    {} (indices {}..={})",
        outcome.validators,
        plan.start_index(),
        plan.last_index()
    );
    println!(
        "withdrawal    {} ({})",
        m.withdrawal.address, m.withdrawal.kind
    );
    println!(
        "owner         {} nonces {}..={}",
        m.owner.address, m.owner.first_nonce, m.owner.last_nonce
    );
    println!(
        "operators     {}",
        m.operators
            .list
            .iter()
            .map(|o| o.id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("merkle root   {}", m.merkle_root);
    println!("identity      {}", m.identity.fingerprint);
    println!("transcript    {}", m.transcript_head);
    println!("bundle digest {}", outcome.bundle_digest);
    println!(
        "verified      {} checks passed",
        outcome.report.checks.len()
    );
    Ok(())
}

fn print_report(report: &Report) {
    for c in &report.checks {
        let mark = if c.ok { "ok  " } else { "FAIL" };
        let place = if c.field.is_empty() {
            c.file.clone()
        } else {
            format!("{} {}", c.file, c.field)
        };
        println!("{mark} {:<24} {place}: {}", c.name, c.detail);
    }
    let failed = report.failures().count();
    if failed == 0 {
        println!(
            "bundle {} verified: {} checks passed; {}",
            report.bundle.display(),
            report.checks.len(),
            identity_summary(report)
        );
    } else {
        println!(
            "bundle {} FAILED verification: {failed} of {} checks failed",
            report.bundle.display(),
            report.checks.len()
        );
    }
}

/// Whether the identity was pinned, for the summary line.
fn identity_summary(report: &Report) -> String {
    let who = report.signed_by.as_deref().unwrap_or("an unreadable key");
    if report.identity_pinned {
        format!("signed by the pinned identity {who}")
    } else {
        format!(
            "identity NOT pinned: signed by {who}, which anyone could have made; \
             pin it with --identity"
        )
    }
}

/// What `ceremony verify` found: the exit code follows from it.
enum Verdict {
    Verified,
    Unpinned,
    Failed,
}

fn verify_cmd(
    bundle: &Path,
    identity: Option<String>,
    allow_unpinned: bool,
    expect_binary: Option<String>,
    json: bool,
    html: Option<&Path>,
) -> Result<Verdict, Error> {
    let identity = identity
        .map(|h| hex::decode(h.trim_start_matches("0x")))
        .transpose()
        .map_err(|e| Error::Input {
            what: "--identity".into(),
            detail: format!("not hex: {e}"),
        })?;
    let opts = VerifyOptions {
        trusted_identities: identity.into_iter().collect(),
        expect_binary,
        ..VerifyOptions::default()
    };
    // The audit report shows what verification read and checked: kept only when it is asked for
    // (it holds the manifest's list and the transcript whole).
    let (report, audited) = match html {
        Some(_) => {
            let (report, audited) = verify::audit_bundle(bundle, &opts);
            (report, Some(audited))
        }
        None => (verify::verify_bundle(bundle, &opts), None),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
    } else {
        print_report(&report);
    }
    if let (Some(path), Some(audited)) = (html, &audited) {
        let page = ceremony::report::render(bundle, &report, audited);
        kc_bundle::fsio::write_new(path, page.as_bytes())?;
        eprintln!("ceremony: audit report written to {}", path.display());
    }
    Ok(if !report.ok() {
        Verdict::Failed
    } else if report.identity_pinned || allow_unpinned {
        Verdict::Verified
    } else {
        Verdict::Unpinned
    })
}

fn reshare_cmd(
    mut cfg: ceremony::reshare::ReshareConfig,
    plan_path: &Path,
    pin: &PinArgs,
    allow_unlocked_memory: bool,
) -> Result<(), Error> {
    cfg.hygiene = hygiene::harden(allow_unlocked_memory)?;
    if !cfg.hygiene.memory_locked {
        eprintln!("ceremony: WARNING: memory is not locked (--allow-unlocked-memory); secrets may reach swap");
    }
    let plan = kc_bundle::reshare::ResharePlan::load(plan_path)?;
    cfg.pin = read_pin(pin)?;
    cfg.tool = ToolIdentity::current().map_err(|e| Error::Input {
        what: "the running executable".into(),
        detail: e.to_string(),
    })?;
    let progress = StderrProgress::new(plan.pubkeys.len() as u64);
    let outcome = ceremony::reshare::run(&plan, &cfg, &progress)?;
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    let m = &outcome.manifest;
    println!("bundle        {} (reshare)", outcome.dir.display());
    println!("ceremony      {}", m.ceremony_id);
    println!(
        "source        {} (root {})",
        m.source.ceremony_id, m.source.merkle_root
    );
    println!("validators    {}", m.validators.len());
    println!(
        "operators     {:?} → {}",
        m.source.operator_ids,
        m.operators
            .list
            .iter()
            .map(|o| o.id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "owner         {} nonces {}..={}",
        m.owner.address, m.owner.first_nonce, m.owner.last_nonce
    );
    println!(
        "reshare root  {} (governance: PoolManager.approveReshare)",
        m.merkle_root
    );
    println!("bundle digest {}", outcome.bundle_digest);
    println!(
        "verified      {} checks passed",
        outcome.report.checks.len()
    );
    Ok(())
}

struct InitArgs<'a> {
    module: &'a Path,
    token: &'a str,
    token_serial: Option<&'a str>,
    backend: Option<SealBackend>,
    seal_label: &'a str,
    identity_label: &'a str,
    pin: &'a PinArgs,
    json: bool,
}

/// What `ceremony hsm init` made: printed as text, or as JSON with `--json` (scripts read the
/// identity public key from it instead of scraping the text).
#[derive(serde::Serialize)]
struct InitOutcome {
    token: String,
    seal_backend: String,
    seal_key: InitKey,
    identity_key: InitKey,
}

/// One provisioned key of [`InitOutcome`].
#[derive(serde::Serialize)]
struct InitKey {
    label: String,
    /// e.g. `AES-256`, `RSA-3072`, `P-256`.
    algorithm: &'static str,
    /// The operations the key allows.
    usage: &'static str,
    /// SEC1 uncompressed public key, hex (the identity key).
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    /// The manifest's fingerprint of the public key (the identity key).
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    /// SHA-256 of the public key's SPKI DER (the RSA seal key).
    #[serde(skip_serializing_if = "Option::is_none")]
    key_sha256: Option<String>,
    /// How the data key is decrypted (the RSA seal key), e.g. `OAEP-sha256 via CKM_RSA_PKCS_OAEP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    data_key: Option<String>,
}

impl InitOutcome {
    fn print_text(&self) {
        let key_line = |k: &InitKey| {
            format!(
                "{} ({}, sensitive, never extractable, {})",
                k.label, k.algorithm, k.usage
            )
        };
        println!("token                {}", self.token);
        println!("seal backend         {}", self.seal_backend);
        println!("seal key             {}", key_line(&self.seal_key));
        if let Some(sha) = &self.seal_key.key_sha256 {
            println!("seal key sha256      {sha}");
        }
        if let Some(mode) = &self.seal_key.data_key {
            println!("seal data key        {mode}");
        }
        println!("identity key         {}", key_line(&self.identity_key));
        let none = String::new();
        println!(
            "identity public key  {}",
            self.identity_key.public_key.as_ref().unwrap_or(&none)
        );
        println!(
            "identity fingerprint {}",
            self.identity_key.fingerprint.as_ref().unwrap_or(&none)
        );
    }
}

fn hsm_init(a: &InitArgs<'_>) -> Result<(), Error> {
    hygiene::harden(true)?;
    if a.seal_label == a.identity_label {
        return Err(Error::Input {
            what: "--identity-label".into(),
            detail: "must differ from --seal-label".into(),
        });
    }
    let pin = read_pin(a.pin)?;
    let module = Module::open(a.module)?;
    let token = module.select_token(a.token, a.token_serial)?;
    let session = token.login(&pin)?;
    // Refuse before trying or generating anything if either label is taken.
    session.ensure_label_free(a.seal_label)?;
    session.ensure_label_free(a.identity_label)?;
    // The backend: forced, or the first whose mechanisms and trial pass.
    let choice = kc_hsm::choose_seal_backend(&session, a.backend)?;
    eprint!("{}{}", choice.preflight, choice.trial);
    let (seal, identity) =
        kc_hsm::provision_ceremony_keys(&session, choice.backend, a.seal_label, a.identity_label)?;
    let pk = identity.public_key_sec1();
    let seal_key = match &seal {
        kc_hsm::Sealer::AesGcm(k) => InitKey {
            label: k.label().to_owned(),
            algorithm: "AES-256",
            usage: "encrypt/decrypt only",
            public_key: None,
            fingerprint: None,
            key_sha256: None,
            data_key: None,
        },
        kc_hsm::Sealer::RsaOaep(k) => {
            let m = k.modes()[0];
            InitKey {
                label: k.label().to_owned(),
                algorithm: "RSA-3072",
                usage: "decrypt only",
                public_key: None,
                fingerprint: None,
                key_sha256: Some(k.key_sha256().to_owned()),
                data_key: Some(format!("OAEP-{} via {}", m.hash, m.path.describe())),
            }
        }
    };
    let outcome = InitOutcome {
        token: token.label().to_owned(),
        seal_backend: seal.backend().to_string(),
        seal_key,
        identity_key: InitKey {
            label: identity.label().to_owned(),
            algorithm: "P-256",
            usage: "sign only",
            public_key: Some(hex::encode(pk)),
            fingerprint: Some(kc_bundle::manifest::key_fingerprint(&pk)),
            key_sha256: None,
            data_key: None,
        },
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome).expect("the outcome serializes")
        );
    } else {
        outcome.print_text();
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Tui(cli.tui));
    let result = match command {
        Command::Tui(args) => ceremony::tui::run(ceremony::tui::Options {
            plan: args.plan,
            out: args.out,
            previous: args.previous,
            allow_unlocked_memory: args.allow_unlocked_memory,
        })
        .map(|done| {
            if done {
                Verdict::Verified
            } else {
                Verdict::Failed
            }
        }),
        Command::Hsm {
            command:
                HsmCommand::Init {
                    module,
                    token,
                    token_serial,
                    seal_backend,
                    seal_label,
                    identity_label,
                    pin,
                    json,
                },
        } => hsm_init(&InitArgs {
            module: &module,
            token: &token,
            token_serial: token_serial.as_deref(),
            backend: seal_backend.0,
            seal_label: &seal_label,
            identity_label: &identity_label,
            pin: &pin,
            json,
        })
        .map(|()| Verdict::Verified),
        Command::Run(args) => {
            run_ceremony(args, MasterSource::Plan, None).map(|()| Verdict::Verified)
        }
        Command::Reshare {
            from,
            run:
                RunArgs {
                    plan,
                    out,
                    pin,
                    administrator,
                    witnesses,
                    previous,
                    allow_unlocked_memory,
                },
        } => reshare_cmd(
            ceremony::reshare::ReshareConfig {
                out,
                pin: SecretString::from(String::new()),
                people: People {
                    administrator,
                    witnesses,
                },
                from,
                previous,
                hygiene: hygiene::Hygiene {
                    core_dumps_disabled: false,
                    not_dumpable: false,
                    memory_locked: false,
                },
                tool: ToolIdentity {
                    name: String::new(),
                    version: String::new(),
                    git_commit: None,
                    binary_sha256: String::new(),
                    cargo_lock_sha256: String::new(),
                },
            },
            &plan,
            &pin,
            allow_unlocked_memory,
        )
        .map(|()| Verdict::Verified),
        Command::Recover {
            from,
            recreate,
            run,
        } => {
            let extra = (!recreate).then(|| from.clone());
            run_ceremony(run, MasterSource::Recover { bundle: from }, extra)
                .map(|()| Verdict::Verified)
        }
        Command::Verify {
            bundle,
            identity,
            allow_unpinned_identity,
            expect_binary,
            json,
            report,
        } => verify_cmd(
            &bundle,
            identity,
            allow_unpinned_identity,
            expect_binary,
            json,
            report.as_deref(),
        ),
    };
    match result {
        Ok(Verdict::Verified) => ExitCode::SUCCESS,
        Ok(Verdict::Unpinned) => ExitCode::from(EXIT_UNPINNED),
        Ok(Verdict::Failed) => ExitCode::from(EXIT_VERIFY_FAILED),
        Err(e) => {
            eprintln!("ceremony: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
