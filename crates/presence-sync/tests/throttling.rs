//! Row T2 of reliability.md §7: Teams throttles with 429s that say nothing of when to come back
//! (no `Retry-After`). Through the real driver, clients and emulator on 127.0.0.1: the retries
//! back off exponentially with jitter (each gap at least the one before, within the policy's
//! bounds, and no shorter than the pace each throttled read doubles), the number of attempts
//! in the run is bounded, and the link recovers. And the timing the sync is given is checked
//! before it asks anything of a cloud.

mod common;

use common::*;
use presence_emulator::world::FaultKind;
use presence_emulator::{Api, Emulator};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t2_429s_without_retry_after_back_off_with_growing_gaps_and_bounded_attempts() {
    let emu = Emulator::start().await.expect("emulator");
    let agent = ready_agent(&emu, "ada").await;
    let throttled = 4;
    fault(
        &emu,
        Api::Graph,
        FaultKind::Status {
            status: 429,
            retry_after: None,
        },
        Some(throttled),
        Some("/presence"),
    );
    // Paced, the four retries take up to 10 + 20 + 40 + 60 s (an idle poll's pace, doubled).
    until_within(
        &emu,
        "the throttling to pass",
        Duration::from_secs(150),
        |_| {
            let seen = timed_requests(&emu);
            seen.iter()
                .filter(|(_, path, status)| path.contains("/presence") && *status == 429)
                .count()
                == throttled as usize
                && seen
                    .iter()
                    .skip_while(|(_, _, status)| *status != 429)
                    .any(|(_, path, status)| path.contains("/presence") && *status < 300)
        },
    )
    .await;
    let run: Vec<(i64, String, u64)> = timed_requests(&emu)
        .into_iter()
        .skip_while(|(_, _, status)| *status != 429)
        .filter(|(_, path, _)| path.starts_with("/v1.0/"))
        .collect();
    eprintln!("the run: {run:?}");
    // Every Teams request from the first 429 to the first success: the 429s and one more.
    let ended = run
        .iter()
        .position(|(_, _, status)| *status < 300)
        .expect("a success");
    assert_eq!(
        ended, throttled as usize,
        "Teams was asked only for the retries, nothing else meanwhile: {run:?}"
    );
    // The gaps: the k-th retry waits at least the upper half of base·2^(k-1) (equal jitter)
    // and at least the poll's pace, which each throttled read doubles from the interval in use
    // (1 s active, 5 s idle; up to 10 % jitter); never less than the gap before. The times are
    // when the emulator answered, so allow a little for the request's own time.
    let timing = presence_core::config::Timing::default();
    let slack = 150;
    let paced = |interval: u64, k: usize| {
        (interval << (k + 1)).min(timing.teams_poll_throttled_max_ms) as i64
    };
    let gaps: Vec<i64> = run[..=ended].windows(2).map(|w| w[1].0 - w[0].0).collect();
    for (k, gap) in gaps.iter().enumerate() {
        let step = (timing.retry_base_ms << k).min(timing.retry_cap_ms) as i64;
        let shortest = (step / 2).max(paced(timing.teams_poll_active_ms, k)) - slack;
        let longest = step.max(paced(timing.teams_poll_idle_ms, k) * 11 / 10) + slack * 3;
        assert!(
            (shortest..=longest).contains(gap),
            "retry {} came {gap} ms after the one before, not within {shortest}..={longest} ms: {gaps:?}",
            k + 1
        );
        if k > 0 {
            assert!(*gap + slack >= gaps[k - 1], "a gap shrank: {gaps:?}");
        }
    }
    until_snapshot(&agent, "Teams connected again", |s| {
        s.links[0].state.is_connected()
    })
    .await;
}

/// The timing a caller gives the sync is checked before anything starts: a broken limit (here
/// no slowest pace at all) ends the start with the reason, and no cloud is asked anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timing_that_breaks_a_limit_is_refused_before_any_request() {
    let emu = Emulator::start().await.expect("emulator");
    let mut options = presence_sync::SyncOptions::new(presence_sync::SignInTarget::Emulator {
        url: emu.base_url.clone(),
        user: "ada".into(),
    });
    let data = std::env::temp_dir().join(format!("presence-timing-{}", std::process::id()));
    options.storage = presence_sync::Storage::DataDir(Some(data.clone()));
    options.timing.teams_poll_throttled_max_ms = 0;
    let (_handle, task, _prompts) = start_with_browser_prompts(options);
    let ended = tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the start ends")
        .expect("the task runs");
    let error = ended.expect_err("the timing is refused");
    assert!(
        matches!(error, presence_sync::StartError::Timing(_))
            && error.to_string().contains("teams_poll_throttled_max_ms"),
        "{error}"
    );
    assert!(
        timed_requests(&emu).is_empty(),
        "{:?}",
        timed_requests(&emu)
    );
    assert!(!data.exists(), "no data directory made");
}
