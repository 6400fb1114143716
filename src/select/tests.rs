//! Selection tests: this is where a prod cluster gets hit by mistake.

use super::*;
use crate::contexts::from_text;
use crate::error::ExitCode;
use std::path::Path;

const FILE: &str = r#"
apiVersion: qctl/v1
current-context: staging
clusters:
  - name: c
    server: redis://127.0.0.1:6379
contexts:
  - name: prod-us-east
    cluster: c
    labels: { env: prod, region: us-east-1, tier: gold }
    protected: true
  - name: prod-us-west
    cluster: c
    labels: { env: prod, region: us-west-2 }
  - name: prod-eu
    cluster: c
    labels: { env: prod, region: eu-west-1, canary: "yes" }
  - name: staging
    cluster: c
    labels: { env: staging, region: us-east-1 }
  - name: prod-old
    cluster: c
    labels: { env: prod, region: us-east-1 }
    enabled: false
  - name: dev
    cluster: c
"#;

fn cfg() -> Config {
    from_text(Path::new("/t/config.yaml"), FILE).unwrap()
}

fn sel(contexts: &[&str], selector: Option<&str>, all: bool) -> Result<TargetSet> {
    select(
        &cfg(),
        &SelectArgs {
            contexts: contexts.iter().map(|s| s.to_string()).collect(),
            selector: selector.map(String::from),
            all,
            env_context: None,
        },
    )
}

fn names(r: Result<TargetSet>) -> Vec<String> {
    r.unwrap().targets.into_iter().map(|t| t.name).collect()
}

#[test]
fn default_is_current_context_not_literal() {
    let t = sel(&[], None, false).unwrap();
    assert_eq!(
        t.targets,
        vec![Target {
            name: "staging".into(),
            literal: false
        }]
    );
}

#[test]
fn env_context_beats_current_context() {
    let t = select(
        &cfg(),
        &SelectArgs {
            env_context: Some("dev".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(t.names(), vec!["dev"]);
    assert!(!t.targets[0].literal, "QCTL_CONTEXT is not --context");
}

#[test]
fn flag_beats_env_context() {
    let t = select(
        &cfg(),
        &SelectArgs {
            contexts: vec!["prod-eu".into()],
            env_context: Some("dev".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(t.names(), vec!["prod-eu"]);
}

#[test]
fn unknown_env_context_is_an_error() {
    let e = select(
        &cfg(),
        &SelectArgs {
            env_context: Some("stagin".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code, ExitCode::Failure);
    assert!(e.message.contains("QCTL_CONTEXT"));
    assert_eq!(e.hint.as_deref(), Some("did you mean `staging`?"));
}

#[test]
fn no_current_context_says_use_context() {
    let c = from_text(
        Path::new("/t/c.yaml"),
        "apiVersion: qctl/v1\nclusters: [{name: c, server: 'redis://h'}]\ncontexts: [{name: a, cluster: c}]\n",
    )
    .unwrap();
    let e = select(&c, &SelectArgs::default()).unwrap_err();
    assert_eq!(e.code, ExitCode::Failure);
    assert!(e.hint.unwrap().contains("qctl config use-context"));
}

#[test]
fn literal_names_are_literal_and_in_file_order() {
    let t = sel(&["staging", "prod-us-east"], None, false).unwrap();
    assert_eq!(t.names(), vec!["prod-us-east", "staging"]);
    assert!(t.targets.iter().all(|t| t.literal));
    assert_eq!(t.typed_order, vec!["staging", "prod-us-east"]);
}

#[test]
fn comma_lists_and_repeats() {
    assert_eq!(
        names(sel(&["dev,prod-eu", "staging"], None, false)),
        vec!["prod-eu", "staging", "dev"]
    );
    assert_eq!(
        names(sel(&[" dev , staging "], None, false)),
        vec!["staging", "dev"]
    );
}

#[test]
fn duplicates_collapse() {
    let t = sel(&["dev", "dev,dev"], None, false).unwrap();
    assert_eq!(t.names(), vec!["dev"]);
}

#[test]
fn glob_reaches_enabled_only_and_is_not_literal() {
    let t = sel(&["prod-*"], None, false).unwrap();
    assert_eq!(t.names(), vec!["prod-us-east", "prod-us-west", "prod-eu"]);
    assert!(
        t.targets.iter().all(|t| !t.literal),
        "a glob never counts as literal"
    );
}

#[test]
fn glob_and_literal_mix_literal_wins() {
    let t = sel(&["prod-*", "prod-us-east"], None, false).unwrap();
    let east = t.targets.iter().find(|t| t.name == "prod-us-east").unwrap();
    assert!(east.literal);
    let west = t.targets.iter().find(|t| t.name == "prod-us-west").unwrap();
    assert!(!west.literal);
}

#[test]
fn glob_question_mark_and_class() {
    assert_eq!(names(sel(&["de?"], None, false)), vec!["dev"]);
    assert_eq!(
        names(sel(&["prod-us-[e]*"], None, false)),
        vec!["prod-us-east"]
    );
}

#[test]
fn glob_matching_nothing_is_an_error() {
    let e = sel(&["qa-*"], None, false).unwrap_err();
    assert_eq!(e.code, ExitCode::Failure);
    assert!(e.message.contains("qa-*"));
}

#[test]
fn glob_matching_only_disabled_is_an_error() {
    let e = sel(&["prod-o*"], None, false).unwrap_err();
    assert_eq!(e.code, ExitCode::Failure);
}

#[test]
fn disabled_reached_when_named_literally() {
    let t = sel(&["prod-old"], None, false).unwrap();
    assert_eq!(t.names(), vec!["prod-old"]);
    assert!(t.targets[0].literal);
}

#[test]
fn all_contexts_skips_disabled() {
    assert_eq!(
        names(sel(&[], None, true)),
        vec!["prod-us-east", "prod-us-west", "prod-eu", "staging", "dev"]
    );
    assert!(
        sel(&[], None, true)
            .unwrap()
            .targets
            .iter()
            .all(|t| !t.literal)
    );
}

#[test]
fn all_with_context_is_usage_error() {
    let e = sel(&["dev"], None, true).unwrap_err();
    assert_eq!(e.code, ExitCode::Usage);
}

#[test]
fn empty_context_flag_is_usage_error() {
    assert_eq!(sel(&[","], None, false).unwrap_err().code, ExitCode::Usage);
}

#[test]
fn unknown_name_did_you_mean() {
    let e = sel(&["prod-us-esat"], None, false).unwrap_err();
    assert_eq!(e.code, ExitCode::Failure);
    assert_eq!(e.message, "unknown context `prod-us-esat`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `prod-us-east`?"));
}

#[test]
fn one_unknown_name_fails_the_whole_selection() {
    // Never run on a subset when the user mistyped one name.
    assert!(sel(&["dev,nope"], None, false).is_err());
}

#[test]
fn selector_equality_skips_disabled() {
    assert_eq!(
        names(sel(&[], Some("env=prod"), false)),
        vec!["prod-us-east", "prod-us-west", "prod-eu"]
    );
    assert_eq!(
        names(sel(&[], Some("env==staging"), false)),
        vec!["staging"]
    );
}

#[test]
fn selector_inequality_includes_unlabelled() {
    assert_eq!(
        names(sel(&[], Some("env!=prod"), false)),
        vec!["staging", "dev"]
    );
}

#[test]
fn selector_in_and_notin() {
    assert_eq!(
        names(sel(&[], Some("region in (us-east-1, eu-west-1)"), false)),
        vec!["prod-us-east", "prod-eu", "staging"]
    );
    assert_eq!(
        names(sel(&[], Some("region notin (us-east-1,eu-west-1)"), false)),
        vec!["prod-us-west", "dev"]
    );
}

#[test]
fn selector_exists_and_not_exists() {
    assert_eq!(names(sel(&[], Some("tier"), false)), vec!["prod-us-east"]);
    assert_eq!(
        names(sel(&[], Some("!canary,env=prod"), false)),
        vec!["prod-us-east", "prod-us-west"]
    );
}

#[test]
fn selector_comma_is_and() {
    assert_eq!(
        names(sel(&[], Some("env=prod,region=us-east-1"), false)),
        vec!["prod-us-east"]
    );
    assert_eq!(
        names(sel(
            &[],
            Some("env=prod,region in (us-east-1,us-west-2),!tier"),
            false
        )),
        vec!["prod-us-west"]
    );
}

#[test]
fn selector_matching_nothing_is_an_error() {
    let e = sel(&[], Some("env=qa"), false).unwrap_err();
    assert_eq!(e.code, ExitCode::Failure);
}

#[test]
fn selector_with_all_is_the_selector() {
    assert_eq!(names(sel(&[], Some("env=staging"), true)), vec!["staging"]);
}

#[test]
fn selector_narrows_context_list() {
    assert_eq!(
        names(sel(&["prod-*"], Some("region=us-west-2"), false)),
        vec!["prod-us-west"]
    );
    assert!(sel(&["dev"], Some("env=prod"), false).is_err());
}

#[test]
fn bad_selectors_are_usage_errors() {
    for bad in [
        "env=prod,",
        ",env=prod",
        "region in (a,b",
        "region in a,b)",
        "region inn (a)",
        "!env=prod",
        "env=pr od",
        "=prod",
        "region in ()",
        "env = prod extra",
        "region in (a) x",
    ] {
        let e = sel(&[], Some(bad), false).unwrap_err();
        assert_eq!(e.code, ExitCode::Usage, "{bad}: {}", e.message);
    }
}

#[test]
fn selector_parse_shapes() {
    assert_eq!(
        Selector::parse("a=1,b!=2,c in (x,y),d notin (z),e,!f")
            .unwrap()
            .0,
        vec![
            Requirement::Eq("a".into(), "1".into()),
            Requirement::NotEq("b".into(), "2".into()),
            Requirement::In("c".into(), vec!["x".into(), "y".into()]),
            Requirement::NotIn("d".into(), vec!["z".into()]),
            Requirement::Exists("e".into()),
            Requirement::NotExists("f".into()),
        ]
    );
    // Empty value is legal, as in kubectl.
    assert_eq!(
        Selector::parse("a=").unwrap().0,
        vec![Requirement::Eq("a".into(), "".into())]
    );
    assert!(Selector::parse("example.com/team=ops").is_ok());
}

#[test]
fn current_context_dangling_is_an_error() {
    let c = from_text(
        Path::new("/t/c.yaml"),
        "apiVersion: qctl/v1\ncurrent-context: gone\nclusters: [{name: c, server: 'redis://h'}]\ncontexts: [{name: a, cluster: c}]\n",
    )
    .unwrap();
    let e = select(&c, &SelectArgs::default()).unwrap_err();
    assert!(e.message.contains("gone"));
}
