//! Row T2 of reliability.md §7: Teams throttles with 429s that say nothing of when to come back
//! (no `Retry-After`). Through the real driver, clients and emulator on 127.0.0.1: the retries
//! back off exponentially with jitter (each gap at least the one before, within the policy's
//! bounds), the number of attempts in the run is bounded, and the link recovers.

mod common;

use common::*;
use presence_emulator::world::FaultKind;
use presence_emulator::{Api, Emulator};

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
    until(&emu, "the throttling to pass", |_| {
        let seen = timed_requests(&emu);
        seen.iter()
            .filter(|(_, path, status)| path.contains("/presence") && *status == 429)
            .count()
            == throttled as usize
            && seen
                .iter()
                .skip_while(|(_, _, status)| *status != 429)
                .any(|(_, path, status)| path.contains("/presence") && *status < 300)
    })
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
    // The gaps: the k-th retry waits within the upper half of base·2^(k-1) (equal jitter), and
    // never less than the gap before. The times are when the emulator answered, so allow a
    // little for the request's own time.
    let timing = presence_core::config::Timing::default();
    let slack = 150;
    let gaps: Vec<i64> = run[..=ended].windows(2).map(|w| w[1].0 - w[0].0).collect();
    for (k, gap) in gaps.iter().enumerate() {
        let step = (timing.retry_base_ms << k).min(timing.retry_cap_ms) as i64;
        assert!(
            (step / 2 - slack..=step + slack * 3).contains(gap),
            "retry {} came {gap} ms after the one before; the policy's step is {step} ms: {gaps:?}",
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
