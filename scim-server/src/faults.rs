//! Seeded, deterministic fault injection.
//!
//! A [`FaultPlan`] holds rules; each rule names the requests it applies to ([`RouteMatch`]:
//! tenant, resource, operation, method), a [`Fault`], and when it fires: after skipping the
//! first `after` matching requests, at most `times` times, each time with `probability`.
//! The decision for the n-th matching request of a rule is a pure function of
//! (seed, rule index, n), so a run with the same request order misbehaves the same way.
//!
//! ```
//! use scim_server::faults::{Fault, FaultPlan, FaultRule, Op, RouteMatch};
//! use scim_server::ResourceKind;
//! let plan = FaultPlan::new(42)
//!     .rule(FaultRule::new(Fault::TooManyRequests { retry_after: Some(scim_server::faults::RetryAfter::Seconds(1)) })
//!         .route(RouteMatch::any().resource(ResourceKind::User).op(Op::List))
//!         .times(2))
//!     .rule(FaultRule::new(Fault::ResponseLost { stall: std::time::Duration::from_millis(50) })
//!         .route(RouteMatch::any().op(Op::Create))
//!         .probability(0.1));
//! assert_eq!(plan.rules().len(), 2);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::schema::ResourceKind;

/// The operation a request performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `GET /Users`, `GET /Groups`
    List,
    /// `POST /Users/.search`, `POST /.search`
    Search,
    /// `GET /Users/{id}`
    Get,
    /// `POST /Users`
    Create,
    /// `PUT /Users/{id}`
    Replace,
    /// `PATCH /Users/{id}`
    Patch,
    /// `DELETE /Users/{id}`
    Delete,
    /// `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`
    Discovery,
}

/// Which requests a rule applies to; every field left `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteMatch {
    /// Tenant name (`""` for the default tenant).
    pub tenant: Option<String>,
    /// Resource type.
    pub resource: Option<ResourceKind>,
    /// Operation.
    pub op: Option<Op>,
}

impl RouteMatch {
    /// Match every request.
    pub fn any() -> Self {
        Self::default()
    }
    /// Only this tenant.
    pub fn tenant(mut self, t: impl Into<String>) -> Self {
        self.tenant = Some(t.into());
        self
    }
    /// Only this resource type.
    pub fn resource(mut self, r: ResourceKind) -> Self {
        self.resource = Some(r);
        self
    }
    /// Only this operation.
    pub fn op(mut self, op: Op) -> Self {
        self.op = Some(op);
        self
    }
    pub(crate) fn matches(&self, tenant: &str, resource: Option<ResourceKind>, op: Op) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
            && self.resource.is_none_or(|r| Some(r) == resource)
            && self.op.is_none_or(|o| o == op)
    }
}

/// The `Retry-After` header of a 429/503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`
    Seconds(u64),
    /// `Retry-After: <HTTP-date>` this many seconds in the future.
    HttpDate(u64),
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// 429 Too Many Requests, optionally with `Retry-After`.
    TooManyRequests {
        /// The header to send.
        retry_after: Option<RetryAfter>,
    },
    /// Any error status (500, 502, 503, ...) with a SCIM error body, optionally with
    /// `Retry-After`.
    Status {
        /// HTTP status.
        status: u16,
        /// The header to send.
        retry_after: Option<RetryAfter>,
    },
    /// 401 with `WWW-Authenticate` (combine with [`FaultRule::after`] for "401 after N
    /// requests", e.g. a revoked token).
    Unauthorized,
    /// Wait this long before handling the request (not a terminal fault: the request
    /// then proceeds, and other rules still apply).
    Latency(Duration),
    /// Close the connection without answering, before doing anything.
    DropConnection,
    /// Perform the request (the write happens), then stall for `stall` and close the
    /// connection without answering: the client's outcome is unknown.
    ResponseLost {
        /// How long to stall before closing.
        stall: Duration,
    },
    /// A list or search ignores its filter (answers as if none was given).
    IgnoreFilter,
    /// Each firing shifts list pages by `by` records (cumulative): negative repeats
    /// records already seen, positive skips records, as when records are inserted or
    /// deleted between page requests.
    ShiftPages {
        /// Records per firing.
        by: i64,
    },
    /// Answer 200 with a truncated, unparseable JSON body.
    GarbageJson,
}

impl Fault {
    /// Faults that produce the answer themselves (the request is not handled normally).
    pub(crate) fn is_terminal(&self) -> bool {
        !matches!(
            self,
            Fault::Latency(_)
                | Fault::IgnoreFilter
                | Fault::ShiftPages { .. }
                | Fault::ResponseLost { .. }
        )
    }
}

/// One rule of a [`FaultPlan`].
#[derive(Debug)]
pub struct FaultRule {
    route: RouteMatch,
    fault: Fault,
    probability: f64,
    after: u64,
    times: Option<u64>,
    seen: AtomicU64,
    fired: AtomicU64,
}

impl Clone for FaultRule {
    fn clone(&self) -> Self {
        Self {
            route: self.route.clone(),
            fault: self.fault.clone(),
            probability: self.probability,
            after: self.after,
            times: self.times,
            seen: AtomicU64::new(0),
            fired: AtomicU64::new(0),
        }
    }
}

impl FaultRule {
    /// A rule that fires `fault` on every request.
    pub fn new(fault: Fault) -> Self {
        Self {
            route: RouteMatch::any(),
            fault,
            probability: 1.0,
            after: 0,
            times: None,
            seen: AtomicU64::new(0),
            fired: AtomicU64::new(0),
        }
    }
    /// Only for matching requests.
    pub fn route(mut self, route: RouteMatch) -> Self {
        self.route = route;
        self
    }
    /// Fire with this probability (0.0–1.0), decided deterministically from the seed.
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p.clamp(0.0, 1.0);
        self
    }
    /// Let the first `n` matching requests through.
    pub fn after(mut self, n: u64) -> Self {
        self.after = n;
        self
    }
    /// Fire at most `n` times.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }
    /// The fault.
    pub fn fault(&self) -> &Fault {
        &self.fault
    }
    /// How many times this rule has fired.
    pub fn fired(&self) -> u64 {
        self.fired.load(Ordering::Relaxed)
    }
}

/// A seeded set of fault rules.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    seed: u64,
    rules: Vec<FaultRule>,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A fault decided for one request, with how often its rule has fired before.
#[derive(Debug, Clone)]
pub(crate) struct Fired {
    pub(crate) fault: Fault,
    pub(crate) previous_firings: u64,
}

impl FaultPlan {
    /// An empty plan with a seed.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            rules: Vec::new(),
        }
    }
    /// Add a rule (rules are consulted in order).
    pub fn rule(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }
    /// The rules, with their firing counts.
    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }
    /// True when the plan has no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Decide the faults for one request.
    pub(crate) fn decide(
        &self,
        tenant: &str,
        resource: Option<ResourceKind>,
        op: Op,
    ) -> Vec<Fired> {
        let mut out = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            if !r.route.matches(tenant, resource, op) {
                continue;
            }
            let n = r.seen.fetch_add(1, Ordering::Relaxed);
            if n < r.after {
                continue;
            }
            if r.probability < 1.0 {
                let h = splitmix(self.seed ^ splitmix((i as u64) << 32 ^ n));
                let x = (h >> 11) as f64 / (1u64 << 53) as f64;
                if x >= r.probability {
                    continue;
                }
            }
            let prev = r.fired.fetch_add(1, Ordering::Relaxed);
            if let Some(t) = r.times
                && prev >= t
            {
                r.fired.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            out.push(Fired {
                fault: r.fault.clone(),
                previous_firings: prev,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_for_a_seed() {
        let mk = || {
            FaultPlan::new(7).rule(
                FaultRule::new(Fault::Status {
                    status: 503,
                    retry_after: None,
                })
                .probability(0.3),
            )
        };
        let run = |p: &FaultPlan| -> Vec<bool> {
            (0..200)
                .map(|_| !p.decide("", None, Op::Get).is_empty())
                .collect()
        };
        let (a, b) = (run(&mk()), run(&mk()));
        assert_eq!(a, b);
        let hits = a.iter().filter(|x| **x).count();
        assert!((30..90).contains(&hits), "{hits}");
        let other = run(&FaultPlan::new(8).rule(mk().rules()[0].clone()));
        assert_ne!(a, other);
    }

    #[test]
    fn after_and_times() {
        let p = FaultPlan::new(1).rule(
            FaultRule::new(Fault::Unauthorized)
                .route(RouteMatch::any().op(Op::List))
                .after(2)
                .times(3),
        );
        let fired: Vec<bool> = (0..8)
            .map(|_| !p.decide("t", Some(ResourceKind::User), Op::List).is_empty())
            .collect();
        assert_eq!(fired, [false, false, true, true, true, false, false, false]);
        assert!(p.decide("t", None, Op::Get).is_empty());
        assert_eq!(p.rules()[0].fired(), 3);
    }
}
