//! The TypeScript declarations of everything the UI receives or sends, generated from the
//! Rust types (ts-rs) into `ui/src/ipc/bindings.ts`. A test fails when the committed file is
//! out of date; `make bindings` (or `TIDINGS_WRITE_BINDINGS=1 cargo test -p tidings-app
//! bindings`) rewrites it.

use ts_rs::TS;

/// The file's content: one `export type` per type, in a fixed order.
pub fn typescript() -> String {
    // JSON numbers arrive in JavaScript as numbers (our ids and seqs stay far below 2^53).
    let cfg = ts_rs::Config::default().with_large_int("number");
    let decls = [
        tidings_proto::ContentType::decl(&cfg),
        tidings_proto::ConversationKind::decl(&cfg),
        tidings_proto::Message::decl(&cfg),
        tidings_proto::Attachment::decl(&cfg),
        tidings_proto::ReplyRef::decl(&cfg),
        tidings_proto::Reaction::decl(&cfg),
        tidings_proto::SystemAction::decl(&cfg),
        tidings_proto::SystemEntry::decl(&cfg),
        tidings_proto::User::decl(&cfg),
        tidings_proto::Participant::decl(&cfg),
        tidings_proto::Notification::decl(&cfg),
        tidings_proto::Typing::decl(&cfg),
        tidings_proto::Presence::decl(&cfg),
        tidings_proto::ReadReceipt::decl(&cfg),
        tidings_client::cache::NotifyLevel::decl(&cfg),
        tidings_client::cache::CachedConversation::decl(&cfg),
        tidings_client::cache::OutboxState::decl(&cfg),
        tidings_client::cache::OutboxEntry::decl(&cfg),
        tidings_client::cache::OutboxFile::decl(&cfg),
        tidings_client::cache::Variant::decl(&cfg),
        tidings_client::cache::Download::decl(&cfg),
        tidings_client::engine::UploadProgress::decl(&cfg),
        tidings_client::cache::SearchHit::decl(&cfg),
        tidings_client::cache::Draft::decl(&cfg),
        tidings_client::cache::ScrollAnchor::decl(&cfg),
        tidings_client::engine::EngineState::decl(&cfg),
        crate::state::SessionInfo::decl(&cfg),
        crate::state::OpenTarget::decl(&cfg),
        crate::state::OpenNotifications::decl(&cfg),
        crate::bridge::AccountEvent::<()>::decl(&cfg),
        crate::error::IpcCode::decl(&cfg),
        crate::error::IpcError::decl(&cfg),
        crate::commands::HistoryPage::decl(&cfg),
        crate::commands::Startup::decl(&cfg),
        crate::commands::AccountSummary::decl(&cfg),
        crate::commands::people::PeoplePage::decl(&cfg),
        crate::commands::files::LocalFile::decl(&cfg),
        crate::settings::Privacy::decl(&cfg),
        crate::settings::QuietHours::decl(&cfg),
        crate::settings::Settings::decl(&cfg),
        crate::updates::UpdateInfo::decl(&cfg),
        crate::updates::UpdateProgress::decl(&cfg),
        crate::telemetry::FirstPaint::decl(&cfg),
        crate::profiles::form::ServerKind::decl(&cfg),
        crate::profiles::form::TokenSource::decl(&cfg),
        crate::profiles::form::TokenPlacement::decl(&cfg),
        crate::profiles::form::MessageFormat::decl(&cfg),
        crate::profiles::form::EmitForm::decl(&cfg),
        crate::profiles::form::ProfileForm::decl(&cfg),
        crate::commands::profiles::SavedProfile::decl(&cfg),
        crate::profiles::check::CheckStep::decl(&cfg),
        crate::profiles::check::CheckReport::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri/src/bindings.rs (ts-rs). Do not edit:\n// run `make bindings`.\n\n",
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(d.trim());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn bindings_are_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/src/ipc/bindings.ts");
        let want = super::typescript();
        if std::env::var_os("TIDINGS_WRITE_BINDINGS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "ui/src/ipc/bindings.ts is out of date with the Rust types: run `make bindings`"
        );
    }
}
