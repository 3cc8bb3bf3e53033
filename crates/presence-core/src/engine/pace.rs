//! The Teams poll's share of the tenant's presence budget (CLOUD-CONTRACT: the poll is "never
//! faster than the tenant budget allows"). Every agent's app reads presence out of one bucket
//! per app and tenant (1,500 reads per 30 s), and no app can see the others, so each learns its
//! share from Graph's answers, as TCP learns a link's share from losses (AIMD): a throttled read
//! halves the rate of reads, and every read answered adds a fixed step to it, until reading is
//! no longer slower than the poll's own interval. Agents that only waited out each 429's
//! `Retry-After` went on asking at full speed (2.4 times the budget at 500 agents, 59 % of it
//! refused: BENCHMARKS.md, tenant scale).
//!
//! Why additive steps, not multiplicative ones: every agent of a tenant sees the same fraction
//! p of its reads throttled, and the rate r it settles at balances the step against the
//! halving, (1 − p)·step = p·r/2, the same r for every agent: the shares come out equal. With a
//! multiplicative step (shortening the gap by an eighth per read, tried first) nothing pulls an
//! agent back, each one's gap wanders between the poll's interval and the longest, and at 500
//! agents some waited 45 s for a change while others read every 2 s.
//!
//! The step, 8 reads per 1,000 s per answered read, sets the trade: a tenant of 500 agents on a
//! budget of 50 reads a second settles with about 13 % of reads refused, 2,000 agents with
//! about 31 %; once the load is gone, a gap of 10 s is back to 5 s in about 90 s, and the
//! longest, 60 s, in under 6 minutes.

/// How much an answered read raises the rate, in reads per 1,000 s.
const STEP_MILLIHERTZ: u64 = 8;

/// The learned pace, as a rate of reads in reads per 1,000 s (millihertz); `None` while Graph
/// has not throttled us (the poll's own interval rules).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PollPace {
    rate_millihertz: Option<u64>,
}

impl PollPace {
    /// The shortest gap between two reads the budget allows us now (0: no limit learned).
    pub(crate) fn gap_ms(&self) -> u64 {
        self.rate_millihertz
            .map_or(0, |rate| 1_000_000 / rate.max(1))
    }

    /// A read was throttled while we read every `interval_ms` (or slower, by the pace): read
    /// half as often, but at least once every `max_ms`.
    pub(crate) fn throttled(&mut self, interval_ms: u64, max_ms: u64) {
        let in_use = 1_000_000 / interval_ms.max(1);
        let rate = self.rate_millihertz.map_or(in_use, |rate| rate.min(in_use));
        let slowest = 1_000_000_u64.div_ceil(max_ms.max(1));
        self.rate_millihertz = Some((rate / 2).max(slowest).max(1));
    }

    /// A read was answered: read a step more often, and forget the pace once its gap is no
    /// longer than `unpaced_ms` (the poll's fastest interval).
    pub(crate) fn answered(&mut self, unpaced_ms: u64) {
        if let Some(rate) = &mut self.rate_millihertz {
            *rate += STEP_MILLIHERTZ;
            if 1_000_000 / *rate <= unpaced_ms {
                self.rate_millihertz = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PollPace;

    #[test]
    fn a_throttled_read_halves_the_rate_in_use_down_to_one_read_a_minute() {
        let mut pace = PollPace::default();
        pace.throttled(5_000, 60_000);
        assert_eq!(pace.gap_ms(), 10_000);
        pace.throttled(1_000, 60_000);
        assert_eq!(pace.gap_ms(), 20_000);
        pace.throttled(1_000, 60_000);
        pace.throttled(1_000, 60_000);
        assert_eq!(
            pace.gap_ms(),
            58_823,
            "one read every 60 s, in whole millihertz"
        );
    }

    /// Time, in ms, that answered reads take to bring the gap from `from` to `to` or less.
    fn easing_ms(pace: &mut PollPace, to_ms: u64) -> (u64, usize) {
        let (mut spent, mut reads) = (0, 0);
        while pace.gap_ms() > to_ms {
            spent += pace.gap_ms();
            pace.answered(1_000);
            reads += 1;
        }
        (spent, reads)
    }

    #[test]
    fn answered_reads_bring_the_pace_back_step_by_step_and_then_forget_it() {
        let mut pace = PollPace::default();
        pace.throttled(5_000, 60_000);
        let (spent, reads) = easing_ms(&mut pace, 5_000);
        assert_eq!(reads, 13, "10 s back to 5 s");
        assert!((85_000..=95_000).contains(&spent), "{spent} ms");
        easing_ms(&mut pace, 1_000);
        assert_eq!(pace, PollPace::default(), "forgotten");

        let mut pace = PollPace::default();
        for _ in 0..8 {
            pace.throttled(1_000, 60_000);
        }
        let (spent, _) = easing_ms(&mut pace, 5_000);
        assert!(
            (300_000..=360_000).contains(&spent),
            "60 s back to 5 s in {spent} ms"
        );
    }

    #[test]
    fn agents_that_see_the_same_throttling_settle_at_the_same_rate() {
        // Two agents, one reading ten times as often; each sees every eighth read throttled.
        let (mut fast, mut slow) = (PollPace::default(), PollPace::default());
        fast.throttled(1_100, 60_000);
        slow.throttled(11_000, 60_000);
        for read in 1..=4_000 {
            for pace in [&mut fast, &mut slow] {
                if read % 8 == 0 {
                    pace.throttled(1_000, 60_000);
                } else {
                    pace.answered(1_000);
                }
            }
        }
        let (a, b) = (fast.gap_ms(), slow.gap_ms());
        assert!(a.abs_diff(b) * 10 <= a.max(b), "{a} ms and {b} ms");
    }

    #[test]
    fn an_unthrottled_pace_stays_unset() {
        let mut pace = PollPace::default();
        pace.answered(1_000);
        assert_eq!(pace.gap_ms(), 0);
    }
}
