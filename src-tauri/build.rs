/// The shell's commands: each must be granted to a window in `capabilities/` to be callable.
const COMMANDS: &[&str] = &[
    "session",
    "sign_in",
    "sign_out",
    "accounts",
    "set_active_account",
    "engine_state",
    "conversations",
    "history",
    "send_message",
    "edit_message",
    "delete_message",
    "react",
    "search_users",
    "me",
    "set_display_name",
    "create_conversation",
    "rename_conversation",
    "add_participants",
    "remove_participant",
    "leave_conversation",
    "retry_message",
    "mark_read",
    "set_typing",
    "focus_conversation",
    "notifications",
    "mark_notification_read",
    "mark_all_notifications_read",
    "unread_notifications",
    "search",
    "set_notify_level",
    "get_settings",
    "set_settings",
    "reconnect_now",
    "report_first_paint",
    "drafts",
    "save_draft",
    "last_open",
    "set_last_open",
    "scroll_anchor",
    "set_scroll_anchor",
    "check_update",
    "download_update",
    "install_update",
    "local_files",
    "pick_files",
    "paste_file",
    "discard_files",
    "largest_attachment",
    "send_files",
    "cancel_message",
    "attachment_bytes",
    "open_attachment",
    "save_attachment",
    "download_limit",
    "set_download_limit",
];

fn main() {
    // tauri.conf.json sits at the top of the repository (the design card's layout), the
    // capabilities here beside the shell's sources.
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("./src-tauri/capabilities/**/*")
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
