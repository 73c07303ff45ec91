//! Micro-benchmarks of the decision: `Policy::apply` on realistic response
//! header maps (strip mode, the default, and guard mode) and `Policy::route`
//! on typical requests.
//!
//! Run: `cargo bench --bench decision` (add `-- apply` to filter).
//!
//! Before Criterion starts, the bench counts heap allocations per `apply`
//! (and per `route`) call with a counting global allocator, outside any
//! timing loop. The target: zero allocations when nothing is stripped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cookieguard::config::Config;
use cookieguard::guard::Decider;
use cookieguard::policy::{Mode, Outcome, Policy, RequestFacts, Route};
use criterion::{BatchSize, Criterion, Throughput};
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, DATE, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

/// `System`, counting every allocation and reallocation.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);
static FREED_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size, Ordering::Relaxed);
        FREED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const EXPIRES: &str = "Expires=Thu, 25 Dec 2026 21:00:00 GMT";

/// A JWE-looking value of `len` bytes (base64url alphabet, like NextAuth's).
fn token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::from("eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..");
    let mut state: u32 = 0x9e37_79b9;
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        out.push(ALPHABET[(state % 64) as usize] as char);
    }
    out.truncate(len);
    out
}

fn session_cookie(name: &str, value_len: usize) -> String {
    format!(
        "{name}={}; Path=/; {EXPIRES}; HttpOnly; SameSite=Lax",
        token(value_len)
    )
}

fn csrf_cookie() -> String {
    format!(
        "next-auth.csrf-token={}%7C{}; Path=/; HttpOnly; SameSite=Lax",
        "3f6c".repeat(16),
        "a91e".repeat(16)
    )
}

const CALLBACK_URL: &str = "next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000%2Fdashboard; Path=/; HttpOnly; SameSite=Lax";
const THEME: &str = "theme=dark; Path=/; Max-Age=31536000; SameSite=Lax";
const LOCALE: &str = "NEXT_LOCALE=en-US; Path=/; Max-Age=31536000; SameSite=Lax";
const AB_TEST: &str = "ab-bucket=checkout-b; Path=/; Max-Age=2592000";

/// A Next.js response's headers around the given `Set-Cookie` lines.
fn response(set_cookies: &[String]) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    map.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache, no-store, max-age=0, must-revalidate"),
    );
    map.insert(
        VARY,
        HeaderValue::from_static("RSC, Next-Router-State-Tree, Next-Router-Prefetch"),
    );
    map.insert(
        HeaderName::from_static("x-powered-by"),
        HeaderValue::from_static("Next.js"),
    );
    for value in set_cookies {
        map.append(SET_COOKIE, HeaderValue::from_str(value).unwrap());
    }
    map.insert(
        DATE,
        HeaderValue::from_static("Tue, 25 Nov 2025 21:00:00 GMT"),
    );
    map.insert(CONTENT_LENGTH, HeaderValue::from_static("14532"));
    map
}

struct Case {
    name: &'static str,
    request: RequestFacts,
    headers: HeaderMap,
    /// `Set-Cookie` lines left after `apply` in strip mode.
    kept: usize,
}

/// A browser request's headers, with the session cookie when `session` is set.
fn request_headers(session: Option<&str>) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(http::header::HOST, HeaderValue::from_static("app.example"));
    map.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("text/html,application/xhtml+xml"),
    );
    let cookie = match session {
        Some(token) => format!("theme=dark; next-auth.session-token={token}"),
        None => "theme=dark".to_owned(),
    };
    map.insert(
        http::header::COOKIE,
        HeaderValue::from_str(&cookie).unwrap(),
    );
    map
}

fn facts(policy: &Policy, method: Method, uri: &str, session: Option<&str>) -> RequestFacts {
    policy.inspect(
        &method,
        &uri.parse::<Uri>().unwrap(),
        &request_headers(session),
    )
}

fn cases(policy: &Policy) -> Vec<Case> {
    let token = token(700);
    let page = || facts(policy, Method::GET, "/dashboard?tab=settings", Some(&token));
    let update = || facts(policy, Method::POST, "/api/auth/session", Some(&token));
    assert_eq!(page().route, Route::NOT_ALLOWED);
    assert_eq!(update().route.rule(), Some(0));

    let other_four = || {
        vec![
            csrf_cookie(),
            CALLBACK_URL.to_owned(),
            THEME.to_owned(),
            LOCALE.to_owned(),
        ]
    };
    let mut nothing = other_four();
    nothing.push(AB_TEST.to_owned());
    let mut with_session = other_four();
    with_session.insert(
        1,
        format!("next-auth.session-token={token}; Path=/; {EXPIRES}; HttpOnly; SameSite=Lax"),
    );
    // NextAuth splits a token into chunks of ~4 KiB (4096 minus the attributes).
    let mut chunked: Vec<String> = (0..3)
        .map(|i| session_cookie(&format!("next-auth.session-token.{i}"), 3933))
        .collect();
    chunked.push(csrf_cookie());
    chunked.push(THEME.to_owned());

    vec![
        Case {
            name: "no_set_cookie",
            request: page(),
            headers: response(&[]),
            kept: 0,
        },
        Case {
            name: "5_lines_nothing_to_strip",
            request: page(),
            headers: response(&nothing),
            kept: 5,
        },
        Case {
            name: "5_lines_strip_session",
            request: page(),
            headers: response(&with_session),
            kept: 4,
        },
        Case {
            name: "5_lines_session_allowed",
            request: update(),
            headers: response(&with_session),
            kept: 5,
        },
        Case {
            name: "3x4KiB_chunks_strip",
            request: page(),
            headers: response(&chunked),
            kept: 2,
        },
        Case {
            name: "3x4KiB_chunks_allowed",
            request: update(),
            headers: response(&chunked),
            kept: 5,
        },
    ]
}

fn requests() -> Vec<(&'static str, Method, Uri, HeaderMap)> {
    let browser = request_headers(Some("eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..x"));
    [
        (
            "GET_page_not_allowed",
            Method::GET,
            "/dashboard?tab=settings",
        ),
        (
            "GET_api_auth_session_not_allowed",
            Method::GET,
            "/api/auth/session",
        ),
        (
            "POST_api_auth_session_allowed",
            Method::POST,
            "/api/auth/session",
        ),
        (
            "GET_callback_allowed",
            Method::GET,
            "/api/auth/callback/github?code=abc&state=xyz",
        ),
        (
            "POST_escaped_dot_segments",
            Method::POST,
            "/api/auth/%73ession/../session",
        ),
    ]
    .into_iter()
    .map(|(name, method, uri)| (name, method, uri.parse().unwrap(), browser.clone()))
    .collect()
}

/// Allocations (count, bytes) per call of `f` over `inputs`, outside Criterion.
fn allocations_per_call<I>(mut inputs: Vec<I>, mut f: impl FnMut(&mut I)) -> (f64, f64) {
    let calls = inputs.len() as f64;
    let (count, bytes) = (
        ALLOCATIONS.load(Ordering::SeqCst),
        ALLOCATED_BYTES.load(Ordering::SeqCst),
    );
    for input in &mut inputs {
        f(black_box(input));
    }
    let count = ALLOCATIONS.load(Ordering::SeqCst) - count;
    let bytes = ALLOCATED_BYTES.load(Ordering::SeqCst) - bytes;
    drop(inputs);
    (count as f64 / calls, bytes as f64 / calls)
}

fn report_allocations(policy: &Policy, guard: &Decider) {
    const CALLS: usize = 1000;
    println!("allocations per call (counting global allocator, {CALLS} calls, outside timing):");
    for case in cases(policy) {
        let inputs = vec![case.headers.clone(); CALLS];
        let (count, bytes) = allocations_per_call(inputs, |map| {
            black_box(policy.apply(&case.request, StatusCode::OK, map));
        });
        let mut check = case.headers.clone();
        let outcome = policy.apply(&case.request, StatusCode::OK, &mut check);
        assert_eq!(
            check.get_all(SET_COOKIE).iter().count(),
            case.kept,
            "{}: {outcome:?}",
            case.name
        );
        let verdict = match outcome {
            Outcome::Stripped { .. } => "stripped",
            _ if count == 0.0 => "nothing stripped: zero allocations, target met",
            _ => "nothing stripped: ALLOCATES, target (zero) missed",
        };
        println!(
            "  apply/{:<28} {count:>6.2} allocs {bytes:>8.1} bytes   {verdict}",
            case.name
        );
    }
    for case in cases(&guard.policy) {
        let inputs = vec![case.headers.clone(); CALLS];
        let (count, bytes) = allocations_per_call(inputs, |map| {
            black_box(guard.decide_now(&case.request, StatusCode::OK, map));
        });
        let outcome = guard.decide_now(&case.request, StatusCode::OK, &mut case.headers.clone());
        println!(
            "  guard/{:<28} {count:>6.2} allocs {bytes:>8.1} bytes   {outcome:?}",
            case.name
        );
    }
    for (name, method, uri, headers) in requests() {
        let inputs = vec![(); CALLS];
        let (count, bytes) = allocations_per_call(inputs, |()| {
            black_box(policy.route(&method, &uri, &headers));
        });
        println!("  route/{name:<28} {count:>6.2} allocs {bytes:>8.1} bytes");
    }
}

fn bench_apply(c: &mut Criterion, group_name: &str, decider: &Decider) {
    let mut group = c.benchmark_group(group_name);
    // One element = one response.
    group.throughput(Throughput::Elements(1));
    for case in cases(&decider.policy) {
        group.bench_function(case.name, |b| {
            // `apply` mutates the map: each iteration gets a fresh clone, made
            // (and dropped) outside the timed section.
            b.iter_batched_ref(
                || case.headers.clone(),
                |map| decider.decide_now(black_box(&case.request), black_box(StatusCode::OK), map),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn bench_route(c: &mut Criterion, policy: &Policy) {
    let mut group = c.benchmark_group("route");
    group.throughput(Throughput::Elements(1));
    for (name, method, uri, headers) in requests() {
        group.bench_function(name, |b| {
            b.iter(|| policy.route(black_box(&method), black_box(&uri), black_box(&headers)));
        });
    }
    group.finish();
}

/// Live heap bytes per session value guard mode remembers (with its
/// generation), measured at the default cap: what `guard.max_entries` costs.
fn report_guard_memory() {
    use cookieguard::guard::GuardState;
    use cookieguard::session::{SessionHash, SessionWrite};
    const ENTRIES: u64 = 100_000;
    let live = || ALLOCATED_BYTES.load(Ordering::Relaxed) - FREED_BYTES.load(Ordering::Relaxed);
    let before = live();
    let mut state = GuardState::new(ENTRIES as usize, Duration::from_secs(90));
    let now = std::time::Instant::now();
    for n in 0..ENTRIES {
        // A sign-in: one new value in one new generation.
        state.record_update(None, SessionWrite::Set(SessionHash(n)), now);
    }
    let bytes = live() - before;
    println!(
        "guard memory: {} values remembered, {:.1} MiB live heap, {:.0} bytes per value (with its generation)",
        state.len(),
        bytes as f64 / (1024.0 * 1024.0),
        bytes as f64 / ENTRIES as f64
    );
    drop(black_box(state));
}

fn main() {
    report_guard_memory();
    let strip = Config::default().decider();
    let policy = &strip.policy;
    let guard = Config {
        mode: Mode::Guard,
        ..Config::default()
    }
    .decider();
    report_allocations(policy, &guard);
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_apply(&mut criterion, "apply", &strip);
    bench_apply(&mut criterion, "guard", &guard);
    bench_route(&mut criterion, policy);
    criterion.final_summary();
}
