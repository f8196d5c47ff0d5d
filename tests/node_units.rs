//! The boot order of every rendered node config: the credentials unit is a one-shot that does
//! its own retrying (no `Restart=`, which would never restart the units that already failed
//! on it), every unit that requires it is also ordered after it, and a node that still cannot
//! start has a failure path (`OnFailure=`) to a unit of the same config that marks it
//! Unhealthy. `systemd-analyze verify` of every unit, the new ones too, is in validators.rs.

use std::collections::BTreeMap;

use kubeline_tests::{IgnUnit, UnitFile, decode_ignition, render_example};

const CREDENTIALS: &str = "kubeline-credentials.service";

/// Every node config of every example: `(where, units)`.
fn node_configs() -> Vec<(String, Vec<IgnUnit>)> {
    let mut out = Vec::new();
    for (example, path) in kubeline_tests::examples_and_demo() {
        let (cluster, rendered) = render_example(&path).expect("render");
        for group in kubeline_tests::node_groups(&cluster) {
            let name = format!("userdata/{}.json", group.file_stem());
            let bytes = rendered
                .files
                .get(&name)
                .unwrap_or_else(|| panic!("{example}: no {name}"));
            let (_, units, _) = decode_ignition(bytes);
            out.push((format!("{example}/{name}"), units));
        }
    }
    assert!(out.len() >= 5 * 3, "only {} node configs", out.len());
    out
}

/// The units of a config that have contents, parsed, by name.
fn parsed(units: &[IgnUnit]) -> BTreeMap<&str, UnitFile> {
    units
        .iter()
        .filter_map(|u| Some((u.name.as_str(), UnitFile::parse(u.contents.as_deref()?))))
        .collect()
}

/// Seconds of a systemd time span: `N`, `Ns`, `Nmin`, `Nh`, or several (`14min 60s`).
fn seconds(span: &str) -> u64 {
    let mut total = 0;
    for part in span.split_whitespace() {
        let (n, unit) = part.split_at(
            part.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(part.len()),
        );
        let n: u64 = n.parse().unwrap_or_else(|_| panic!("time span {span:?}"));
        total += match unit {
            "" | "s" | "sec" => n,
            "m" | "min" => n * 60,
            "h" => n * 3600,
            other => panic!("time span {span:?}: unit {other:?}"),
        };
    }
    total
}

/// What is wrong with the boot order of one node config's units; empty when nothing is.
fn problems(units: &BTreeMap<&str, UnitFile>) -> Vec<String> {
    let mut out = Vec::new();
    let Some(creds) = units.get(CREDENTIALS) else {
        return vec![format!("no {CREDENTIALS}")];
    };
    if creds.values("Service", "Type") != ["oneshot"] {
        out.push(format!("{CREDENTIALS} is not Type=oneshot"));
    }
    if creds.has("Service", "Restart") {
        out.push(format!(
            "{CREDENTIALS} has Restart=, which never restarts the units that failed on it"
        ));
    }
    // The script's retries (a 600s budget by default) end well before systemd stops it.
    match creds.values("Service", "TimeoutStartSec").as_slice() {
        [t] if seconds(t) >= 600 + 120 => {}
        other => out.push(format!(
            "{CREDENTIALS} needs a TimeoutStartSec of 720s or more, has {other:?}"
        )),
    }
    let on_failure = creds.names("Unit", "OnFailure");
    if on_failure.is_empty() {
        out.push(format!("{CREDENTIALS} has no OnFailure="));
    }
    for handler in on_failure {
        let Some(h) = units.get(handler) else {
            out.push(format!(
                "OnFailure={handler} is not a unit of this node config"
            ));
            continue;
        };
        // It must be able to run exactly when the credentials failed.
        for key in ["Requires", "BindsTo", "Requisite", "PartOf"] {
            if h.names("Unit", key).contains(&CREDENTIALS) {
                out.push(format!(
                    "{handler} {key}={CREDENTIALS}, so it could never run"
                ));
            }
        }
        if h.has("Unit", "OnFailure") {
            out.push(format!("{handler} has OnFailure= itself"));
        }
        if h.values("Service", "Type") != ["oneshot"] {
            out.push(format!("{handler} is not Type=oneshot"));
        }
        let exec = h.values("Service", "ExecStart").join(" ");
        if !exec.contains("/opt/kubeline/bin/fetch-credentials mark-unhealthy") {
            out.push(format!(
                "{handler} runs {exec:?}, not the mark-unhealthy path"
            ));
        }
    }
    let mut required = false;
    for (name, u) in units {
        for dep in u.names("Unit", "Requires") {
            if !u.names("Unit", "After").contains(&dep) {
                out.push(format!(
                    "{name} Requires={dep} without After={dep}: it would start alongside it"
                ));
            }
            required |= dep == CREDENTIALS;
            // Restart= on a one-shot others Require= is the trap: when it finally
            // succeeds, the units whose start already failed on it stay failed.
            if let Some(d) = units.get(dep)
                && d.values("Service", "Type") == ["oneshot"]
                && d.has("Service", "Restart")
            {
                out.push(format!("{name} requires {dep}, a one-shot with Restart="));
            }
        }
        // Wants= would start it even when the credentials failed.
        if u.names("Unit", "Wants").contains(&CREDENTIALS) {
            out.push(format!("{name} only Wants={CREDENTIALS}"));
        }
    }
    if !required {
        out.push(format!("nothing requires {CREDENTIALS}"));
    }
    out
}

#[test]
fn every_node_config_starts_after_its_credentials_and_has_a_failure_path() {
    let configs = node_configs();
    let mut dependents = 0;
    for (at, units) in &configs {
        let units = parsed(units);
        let found = problems(&units);
        assert!(found.is_empty(), "{at}:\n{}", found.join("\n"));
        dependents += units
            .values()
            .filter(|u| u.names("Unit", "Requires").contains(&CREDENTIALS))
            .count();
        // Controllers issue their kubelet identity at boot: its failure is fatal too.
        if let Some(identity) = units.get("kubeline-kubelet-identity.service") {
            assert!(
                !identity.names("Unit", "OnFailure").is_empty(),
                "{at}: kubeline-kubelet-identity.service has no OnFailure="
            );
        }
    }
    assert!(dependents >= configs.len(), "only {dependents} dependents");
}

#[test]
fn the_check_finds_the_old_boot_order() {
    // The units as they were: a restarting credentials one-shot without a failure path, and
    // a dependent that only requires it.
    let old = [
        (
            CREDENTIALS,
            "[Unit]\nOnFailure=gone.service\n[Service]\nType=oneshot\n\
             ExecStart=/opt/kubeline/bin/fetch-credentials\nRestart=on-failure\nRestartSec=15\n",
        ),
        (
            "kubelet.service",
            "[Unit]\nRequires=kubeline-credentials.service\nWants=kubeline-credentials.service\n\
             [Service]\nExecStart=/opt/bin/kubelet\n",
        ),
    ];
    let units: BTreeMap<&str, UnitFile> =
        old.iter().map(|(n, t)| (*n, UnitFile::parse(t))).collect();
    let found = problems(&units).join("\n");
    for wanted in [
        "has Restart=",
        "needs a TimeoutStartSec",
        "OnFailure=gone.service is not a unit",
        "kubelet.service Requires=kubeline-credentials.service without After=",
        "a one-shot with Restart=",
        "only Wants=",
    ] {
        assert!(found.contains(wanted), "{wanted:?} not in:\n{found}");
    }
}

#[test]
fn the_unit_parser_reads_continuations_and_repeats() {
    let u = UnitFile::parse(
        "[Unit]\nAfter=a.service\nAfter=b.service \\\n  c.service\n# Restart=no\n[Service]\nType=oneshot\n",
    );
    assert_eq!(
        u.names("Unit", "After"),
        ["a.service", "b.service", "c.service"]
    );
    assert!(!u.has("Unit", "Restart") && !u.has("Service", "Restart"));
    assert_eq!(u.values("Service", "Type"), ["oneshot"]);
    assert_eq!(seconds("900"), 900);
    assert_eq!(seconds("15min"), 900);
    assert_eq!(seconds("14min 60s"), 900);
}
