//! The worker's clock: the runtime's time in milliseconds. The pure core never reads it; the
//! worker passes the time in (a flow's `Request`, the pure rules' `now` arguments).

pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
