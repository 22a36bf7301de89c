//! Notifications of OAuth grants (issue 15): a revoked grant is told once, and resolved
//! once after `seh auth login`, through a webhook receiver on 127.0.0.1.

use crate::common::webhook::Receiver;
use crate::harness::*;
use chrono::Duration;

#[test]
fn a_dead_grant_is_told_once_and_resolved_after_a_new_login() {
    let env = Env::new(sim_options());
    let o = env.seh(&Cfg::default());
    let hook = Receiver::start();
    let mut text = std::fs::read_to_string(&o.config).unwrap();
    text += &format!(
        "\n[notify]\n[[notify.webhook]]\nurl = \"{}/hook\"\n",
        hook.url
    );
    std::fs::write(&o.config, text).unwrap();
    o.login_paste(&env, DENVER, |l| l).0.expect(0);
    o.run(&["sync"]).expect(0);
    assert!(hook.got().is_empty(), "{:?}", hook.titles());

    let refresh = env.sim_grant(DENVER)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = env.post(
        "/v2/oauth2/revoke-token",
        &serde_json::json!({ "token": refresh }),
    );
    assert_eq!(status, 200);
    env.pass_time(Duration::hours(3), &[&o]);
    o.run(&["sync"]).expect(6);
    let dead = format!("seh: OAuth grant dead for site {DENVER}");
    assert_eq!(hook.titles().len(), 1, "{:?}", hook.titles());
    assert!(hook.titles()[0].starts_with(&dead), "{:?}", hook.titles());
    assert!(hook.got()[0].body["message"]
        .as_str()
        .unwrap()
        .contains("seh auth login"));
    // The dead grant stays dead in the token store: no second message, no false "resolved".
    env.pass_time(Duration::hours(3), &[&o]);
    o.run(&["sync"]);
    assert_eq!(hook.titles().len(), 1, "{:?}", hook.titles());

    o.login_paste(&env, DENVER, |l| l).0.expect(0);
    env.pass_time(Duration::hours(3), &[&o]);
    o.run(&["sync"]).expect(0);
    let titles = hook.titles();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(
        titles[1].starts_with(&format!(
            "seh: resolved: OAuth grant dead for site {DENVER}"
        )),
        "{titles:?}"
    );
}
