//! Bad plans: each is refused with exit 2, an error that names the field path, and nothing
//! written (no bundle directory, no staging directory). None of them reaches the HSM: the
//! workspace has no token at all, so a plan that slipped through would fail differently.

use serde_json::Value;

use crate::common::*;

/// Runs `plan` (after `prepare` wrote any files it needs) and checks the refusal: exit 2, the
/// error names `field` (as `: field: `) and holds every string of `also`, nothing written.
fn refused(plan: PlanSpec, ws: &Workspace, field: &str, also: &[&str]) {
    let run = ws.run(&plan, "bundle");
    run.expect_code(2);
    let err = run.error_lines();
    assert!(
        err.contains(&format!(": {field}: ")),
        "error does not name `{field}`:\n{}\n--- plan\n{}",
        run.stderr,
        plan.render()
    );
    assert!(
        err.contains("bundle.plan.toml"),
        "error does not name the plan file: {err}"
    );
    for s in also {
        assert!(err.contains(s), "error lacks {s:?}: {err}");
    }
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
    assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
    ws.assert_nothing_written("bundle");
}

/// A test: a workspace without a token, its default plan changed by `$edit`.
macro_rules! bad_plan {
    ($name:ident, $field:expr, [$($also:expr),*], |$ws:ident, $plan:ident| $edit:block) => {
        #[test]
        fn $name() {
            let mut $ws = Workspace::without_token(4);
            #[allow(unused_mut)]
            let mut $plan = $ws.plan();
            $edit
            refused($plan, &$ws, $field, &[$($also),*]);
        }
    };
}

/// Writes an operators list changed by `edit` to `ops.json` and points the plan at it.
fn with_operators(ws: &Workspace, plan: &mut PlanSpec, edit: impl FnOnce(&mut Vec<Value>)) {
    let mut list = ws.operator_entries();
    edit(&mut list);
    ws.write_json(
        "ops.json",
        &serde_json::json!({
            "provenance": {
                "chain_id": 17000,
                "ssv_network": "0x38A4794cCEd47d3baf7370CcC43B560D3a1beEFA",
                "block_number": 42,
                "block_hash": format!("0x{}", "cd".repeat(32)),
                "exported_at": "2026-11-20T10:00:00Z",
            },
            "operators": list,
        }),
    );
    plan.operators_file = "ops.json".into();
}

/// Changes the case of one hex letter of a checksummed address (breaks the EIP-55 checksum).
fn break_checksum(addr: &str) -> String {
    let i = addr
        .char_indices()
        .skip(2)
        .find(|(_, c)| c.is_ascii_alphabetic())
        .map(|(i, _)| i)
        .expect("an address with a hex letter");
    let mut s: Vec<char> = addr.chars().collect();
    s[i] = if s[i].is_ascii_uppercase() {
        s[i].to_ascii_lowercase()
    } else {
        s[i].to_ascii_uppercase()
    };
    s.into_iter().collect()
}

fn mnemonic_plan(ws: &Workspace, plan: &mut PlanSpec, phrase: &str) {
    std::fs::write(ws.path().join("words.txt"), phrase).unwrap();
    plan.seed_source = "mnemonic".into();
    plan.mnemonic_file = Some("words.txt".into());
}

// --- strict TOML: unknown keys, types, missing fields -------------------------------------

bad_plan!(
    unknown_key_at_top_level,
    "colour",
    ["unknown field"],
    |ws, plan| {
        plan.top.push("colour = \"blue\"".into());
    }
);
bad_plan!(
    unknown_table_at_top_level,
    "extra",
    ["unknown field"],
    |ws, plan| {
        plan.top.push("[extra]\nanswer = 42".into());
    }
);
bad_plan!(
    unknown_key_in_ceremony,
    "ceremony.witnesses",
    ["unknown field"],
    |ws, plan| {
        plan = plan.raw("ceremony.witnesses", "3");
    }
);
bad_plan!(
    unknown_key_in_deposit,
    "deposit.fee_recipient",
    ["unknown field"],
    |ws, plan| {
        plan = plan.raw("deposit.fee_recipient", "\"0x00\"");
    }
);
bad_plan!(
    unknown_key_in_ssv,
    "ssv.cluster_id",
    ["unknown field"],
    |ws, plan| {
        plan = plan.raw("ssv.cluster_id", "7");
    }
);
bad_plan!(
    unknown_key_in_hsm,
    "hsm.slot",
    ["unknown field"],
    |ws, plan| {
        plan = plan.raw("hsm.slot", "0");
    }
);
bad_plan!(
    unknown_key_in_seed,
    "seed.passphrase",
    ["unknown field"],
    |ws, plan| {
        plan = plan.raw("seed.passphrase", "\"TREZOR\"");
    }
);
bad_plan!(
    validators_as_string,
    "ceremony.validators",
    ["invalid type"],
    |ws, plan| {
        plan = plan.raw("ceremony.validators", "\"4\"");
    }
);
bad_plan!(
    start_index_as_float,
    "ceremony.start_index",
    [],
    |ws, plan| {
        plan = plan.raw("ceremony.start_index", "1.5");
    }
);
bad_plan!(negative_amount, "deposit.amount_gwei", [], |ws, plan| {
    plan = plan.raw("deposit.amount_gwei", "-32000000000");
});
bad_plan!(
    withdrawal_type_as_integer,
    "deposit.withdrawal_type",
    ["invalid type"],
    |ws, plan| {
        plan = plan.raw("deposit.withdrawal_type", "1");
    }
);
bad_plan!(
    allow_unpinned_as_string,
    "ssv.allow_unpinned_operators",
    [],
    |ws, plan| {
        plan = plan.raw("ssv.allow_unpinned_operators", "\"yes\"");
    }
);
bad_plan!(
    missing_ceremony_id,
    "ceremony.id",
    ["missing field"],
    |ws, plan| {
        plan = plan.remove("ceremony.id");
    }
);
bad_plan!(
    missing_owner_nonce,
    "ssv.owner_nonce",
    ["missing field"],
    |ws, plan| {
        plan = plan.remove("ssv.owner_nonce");
    }
);
bad_plan!(
    missing_token_label,
    "hsm.token_label",
    ["missing field"],
    |ws, plan| {
        plan = plan.remove("hsm.token_label");
    }
);
bad_plan!(
    missing_seed_section,
    "seed",
    ["missing field"],
    |ws, plan| {
        plan = plan.remove("seed");
    }
);
bad_plan!(
    unknown_seed_source,
    "seed.source",
    ["unknown variant"],
    |ws, plan| {
        plan.seed_source = "dice".into();
    }
);
bad_plan!(not_toml_at_all, "line 2", ["line 2"], |ws, plan| {
    plan.top.push("this is not toml".into());
});

// --- [ceremony] -----------------------------------------------------------------------------

bad_plan!(
    unknown_network,
    "ceremony.network",
    ["\"holesky\""],
    |ws, plan| {
        plan.network = "holesky".into();
    }
);
bad_plan!(
    fork_version_with_named_network,
    "ceremony.fork_version",
    ["custom"],
    |ws, plan| {
        plan.network = "mainnet".into();
        plan.fork_version = Some("0x00000000".into());
    }
);
bad_plan!(
    custom_network_without_fork_version,
    "ceremony.fork_version",
    ["required"],
    |ws, plan| {
        plan.network = "custom".into();
    }
);
bad_plan!(
    custom_network_with_a_named_networks_fork_version,
    "ceremony.fork_version",
    ["hoodi"],
    |ws, plan| {
        plan.network = "custom".into();
        plan.fork_version = Some("0x10000910".into());
    }
);

bad_plan!(
    fork_version_too_short,
    "ceremony.fork_version",
    ["4 bytes"],
    |ws, plan| {
        plan.network = "custom".into();
        plan.fork_version = Some("0x1234".into());
    }
);
bad_plan!(
    fork_version_without_0x,
    "ceremony.fork_version",
    [],
    |ws, plan| {
        plan.network = "custom".into();
        plan.fork_version = Some("10000910".into());
    }
);
bad_plan!(
    fork_version_not_hex,
    "ceremony.fork_version",
    ["not hex"],
    |ws, plan| {
        plan.network = "custom".into();
        plan.fork_version = Some("0x1000091g".into());
    }
);
bad_plan!(
    zero_validators,
    "ceremony.validators",
    ["found 0"],
    |ws, plan| {
        plan.validators = 0;
    }
);
bad_plan!(
    too_many_validators,
    "ceremony.validators",
    ["100001"],
    |ws, plan| {
        plan.validators = 100_001;
    }
);
bad_plan!(
    start_index_passes_last_index,
    "ceremony.start_index",
    ["2^32-1"],
    |ws, plan| {
        plan.start_index = u32::MAX;
        plan.validators = 2;
    }
);
bad_plan!(
    start_index_beyond_u32,
    "ceremony.start_index",
    [],
    |ws, plan| {
        plan = plan.raw("ceremony.start_index", "4294967296");
    }
);
bad_plan!(
    ceremony_id_with_slash_and_space,
    "ceremony.id",
    ["may hold only"],
    |ws, plan| {
        plan.id = "pool batch/01".into();
    }
);
bad_plan!(ceremony_id_hidden, "ceremony.id", ["'.'"], |ws, plan| {
    plan.id = ".hidden".into();
});
bad_plan!(ceremony_id_too_long, "ceremony.id", ["65"], |ws, plan| {
    plan.id = "x".repeat(65);
});
bad_plan!(ceremony_id_empty, "ceremony.id", [], |ws, plan| {
    plan.id = String::new();
});

// --- [deposit] ------------------------------------------------------------------------------

bad_plan!(
    withdrawal_address_bad_checksum,
    "deposit.withdrawal_address",
    ["checksum"],
    |ws, plan| {
        plan.withdrawal_address = break_checksum(&plan.withdrawal_address);
    }
);
bad_plan!(
    withdrawal_address_zero,
    "deposit.withdrawal_address",
    ["zero address"],
    |ws, plan| {
        plan.withdrawal_address = format!("0x{}", "0".repeat(40));
    }
);
bad_plan!(
    withdrawal_address_too_short,
    "deposit.withdrawal_address",
    ["40 hex digits"],
    |ws, plan| {
        plan.withdrawal_address.truncate(40);
    }
);
bad_plan!(
    withdrawal_type_0x03,
    "deposit.withdrawal_type",
    ["\"0x03\""],
    |ws, plan| {
        plan.withdrawal_type = "0x03".into();
    }
);
bad_plan!(
    withdrawal_type_0x00_bls,
    "deposit.withdrawal_type",
    ["\"0x00\""],
    |ws, plan| {
        plan.withdrawal_type = "0x00".into();
    }
);
bad_plan!(
    amount_below_one_eth,
    "deposit.amount_gwei",
    ["below"],
    |ws, plan| {
        plan.amount_gwei = 999_999_999;
    }
);
bad_plan!(
    amount_above_32_eth_with_0x01,
    "deposit.amount_gwei",
    ["above"],
    |ws, plan| {
        plan.amount_gwei = 32_000_000_001;
    }
);
bad_plan!(
    amount_above_2048_eth_with_0x02,
    "deposit.amount_gwei",
    ["above"],
    |ws, plan| {
        plan.withdrawal_type = "0x02".into();
        plan.amount_gwei = 2_048_000_000_001;
    }
);

// --- [ssv] and the operators file -----------------------------------------------------------

bad_plan!(
    owner_address_bad_checksum,
    "ssv.owner_address",
    ["checksum"],
    |ws, plan| {
        plan.owner_address = break_checksum(&plan.owner_address);
    }
);
bad_plan!(
    owner_address_zero,
    "ssv.owner_address",
    ["zero address"],
    |ws, plan| {
        plan.owner_address = format!("0x{}", "0".repeat(40));
    }
);
bad_plan!(
    owner_address_not_hex,
    "ssv.owner_address",
    [],
    |ws, plan| {
        plan.owner_address = format!("0x{}", "zz".repeat(20));
    }
);
bad_plan!(owner_nonce_beyond_u64, "ssv.owner_nonce", [], |ws, plan| {
    plan = plan.raw("ssv.owner_nonce", "18446744073709551615");
});
bad_plan!(
    owner_nonce_beyond_ssv_uint16,
    "ssv.owner_nonce",
    ["65535"],
    |ws, plan| {
        plan.owner_nonce = 65_535;
        plan.validators = 2;
    }
);
bad_plan!(
    operators_file_missing,
    "ssv.operators_file",
    ["nope.json"],
    |ws, plan| {
        plan.operators_file = "nope.json".into();
    }
);
bad_plan!(
    operators_file_bad_json,
    "ssv.operators_file",
    ["ops.json"],
    |ws, plan| {
        std::fs::write(ws.path().join("ops.json"), "[{\"id\": 1, \"public_key\": ").unwrap();
        plan.operators_file = "ops.json".into();
    }
);
bad_plan!(
    operators_file_unknown_field,
    "ssv.operators_file",
    ["name"],
    |ws, plan| {
        with_operators(&ws, &mut plan, |l| l[0]["name"] = "op".into());
    }
);
bad_plan!(
    five_operators,
    "ssv.operators_file",
    ["operators: 5 entries"],
    |ws, plan| {
        with_operators(&ws, &mut plan, |l| {
            let mut extra = l[0].clone();
            extra["id"] = 100_001.into();
            l.push(extra);
        });
    }
);
bad_plan!(
    three_operators,
    "ssv.operators_file",
    ["operators: 3 entries"],
    |ws, plan| {
        with_operators(&ws, &mut plan, |l| {
            l.pop();
        });
    }
);
bad_plan!(
    duplicate_operator_id,
    "ssv.operators_file",
    ["operators[1].id", "twice"],
    |ws, plan| {
        with_operators(&ws, &mut plan, |l| l[1]["id"] = l[0]["id"].clone());
    }
);
bad_plan!(
    operator_id_zero,
    "ssv.operators_file",
    ["operators[2].id"],
    |ws, plan| {
        with_operators(&ws, &mut plan, |l| l[2]["id"] = 0.into());
    }
);
bad_plan!(
    operator_key_rsa_1024,
    "ssv.operators_file",
    ["operators[3].public_key", "1024"],
    |ws, plan| {
        let key = rsa_keys(ws.path(), &[1024]).pop().unwrap();
        with_operators(&ws, &mut plan, |l| {
            l[3]["public_key"] = encode_key(&key).into()
        });
    }
);
bad_plan!(
    operator_key_rsa_3072,
    "ssv.operators_file",
    ["operators[3].public_key", "3072"],
    |ws, plan| {
        let key = rsa_keys(ws.path(), &[3072]).pop().unwrap();
        with_operators(&ws, &mut plan, |l| {
            l[3]["public_key"] = encode_key(&key).into()
        });
    }
);
bad_plan!(
    operator_key_bad_base64,
    "ssv.operators_file",
    ["operators[0].public_key", "base64"],
    |ws, plan| {
        with_operators(&ws, &mut plan, |l| {
            l[0]["public_key"] = "!!not base64!!".into()
        });
    }
);
bad_plan!(
    provenance_bad_block_hash,
    "ssv.operators_file",
    ["provenance.block_hash"],
    |ws, plan| {
        let mut v = read_json(&ws.path().join("operators.json"));
        v["provenance"]["block_hash"] = "0xabcd".into();
        ws.write_json("ops.json", &v);
        plan.operators_file = "ops.json".into();
    }
);
bad_plan!(
    unpinned_operators_without_flag,
    "ssv.operators_file",
    ["allow_unpinned_operators"],
    |ws, plan| {
        ws.write_operators("bare.json", false);
        plan.operators_file = "bare.json".into();
    }
);
bad_plan!(
    unpinned_operators_with_flag_false,
    "ssv.operators_file",
    ["no provenance"],
    |ws, plan| {
        ws.write_operators("bare.json", false);
        plan.operators_file = "bare.json".into();
        plan.allow_unpinned_operators = Some(false);
    }
);

// --- [hsm] ----------------------------------------------------------------------------------

bad_plan!(
    token_label_empty,
    "hsm.token_label",
    ["found 0"],
    |ws, plan| {
        plan.token_label = String::new();
    }
);
bad_plan!(
    token_label_too_long,
    "hsm.token_label",
    ["found 33"],
    |ws, plan| {
        plan.token_label = "t".repeat(33);
    }
);
bad_plan!(seal_label_too_long, "hsm.seal_key_label", [], |ws, plan| {
    plan.seal_key_label = Some("s".repeat(40));
});
bad_plan!(
    same_seal_and_identity_label,
    "hsm.identity_key_label",
    ["must differ"],
    |ws, plan| {
        plan.seal_key_label = Some("kc-key".into());
        plan.identity_key_label = Some("kc-key".into());
    }
);
bad_plan!(
    module_missing,
    "hsm.module",
    ["is not a file"],
    |ws, plan| {
        plan.module = ws.path().join("no-such-pkcs11.so").display().to_string();
    }
);

// --- [seed] ---------------------------------------------------------------------------------

bad_plan!(
    mnemonic_source_without_file,
    "seed.mnemonic_file",
    ["required"],
    |ws, plan| {
        plan.seed_source = "mnemonic".into();
    }
);
bad_plan!(
    mnemonic_file_missing,
    "seed.mnemonic_file",
    ["is not a file"],
    |ws, plan| {
        plan.seed_source = "mnemonic".into();
        plan.mnemonic_file = Some("no-words.txt".into());
    }
);
bad_plan!(
    mnemonic_file_with_hsm_source,
    "seed.mnemonic_file",
    ["only allowed"],
    |ws, plan| {
        std::fs::write(ws.path().join("words.txt"), test_mnemonic()).unwrap();
        plan.mnemonic_file = Some("words.txt".into());
    }
);
bad_plan!(
    mnemonic_with_unknown_word,
    "seed.mnemonic_file",
    ["words.txt"],
    |ws, plan| {
        let mut words: Vec<String> = test_mnemonic().split(' ').map(str::to_owned).collect();
        words[5] = "notaword".into();
        mnemonic_plan(&ws, &mut plan, &words.join(" "));
    }
);
bad_plan!(
    mnemonic_with_bad_checksum,
    "seed.mnemonic_file",
    ["words.txt"],
    |ws, plan| {
        let phrase = test_mnemonic();
        let words: Vec<&str> = phrase.split(' ').collect();
        // Swap two different words until the checksum no longer holds.
        let bad = (1..words.len())
            .map(|j| {
                let mut w = words.clone();
                w.swap(0, j);
                w.join(" ")
            })
            .find(|p| kc_validator::Mnemonic::parse(p).is_err() && *p != phrase)
            .expect("a swap that breaks the checksum");
        mnemonic_plan(&ws, &mut plan, &bad);
    }
);
bad_plan!(
    mnemonic_with_wrong_word_count,
    "seed.mnemonic_file",
    ["words.txt"],
    |ws, plan| {
        let phrase = test_mnemonic();
        let short: Vec<&str> = phrase.split(' ').take(23).collect();
        mnemonic_plan(&ws, &mut plan, &short.join(" "));
    }
);

/// The error for a bad mnemonic never repeats a word of it.
#[test]
fn mnemonic_errors_do_not_echo_words() {
    let mut ws = Workspace::without_token(4);
    let mut plan = ws.plan();
    let phrase = test_mnemonic();
    let mut words: Vec<&str> = phrase.split(' ').collect();
    words[23] = "zzzz";
    mnemonic_plan(&ws, &mut plan, &words.join(" "));
    let run = ws.run(&plan, "bundle");
    run.expect_code(2);
    let all: Vec<&str> = phrase.split(' ').collect();
    for pair in all.windows(2) {
        let pair = pair.join(" ");
        assert!(
            !run.stderr.contains(&pair) && !run.stdout.contains(&pair),
            "the error repeats the words {pair:?}: {}",
            run.stderr
        );
    }
    ws.assert_nothing_written("bundle");
}
