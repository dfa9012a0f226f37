//! A Socket.IO backend through a connection profile (`kind = "socketio"`).

use crate::check::CheckReport;
use crate::profile::{Profile, TokenHeader};
use std::sync::Arc;
use std::time::Duration;

/// The Socket.IO steps of a connection test (see [`crate::check`]).
pub(crate) async fn socketio_check(
    p: &Profile,
    _token: Option<(String, TokenHeader)>,
    _tls: &Arc<rustls::ClientConfig>,
    _timeout: Duration,
    report: &mut CheckReport,
) {
    report.push(
        "connect",
        false,
        format!("{}: Socket.IO profiles cannot be tested yet", p.url),
    );
}
