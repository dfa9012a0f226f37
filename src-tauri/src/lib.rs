//! The Tidings desktop shell (Tauri 2): the window, the tray, OS notifications, single
//! instance and start at login, over the engine of `tidings-client`. Everything that can run
//! without a window lives in that crate; this one stays thin.

pub mod bindings;
mod bridge;
pub mod commands;
pub mod error;
pub mod handover;
pub mod notifier;
pub mod owner;
pub mod plain;
pub mod profiles;
mod progress;
mod scratch;
mod session;
pub mod settings;
pub mod state;
pub mod summary;
pub mod telemetry;
mod toasts;
mod tray;
#[cfg(all(unix, not(target_os = "macos")))]
mod tray_only;
mod untold;
pub mod updates;
mod window;

use state::AppState;
use tauri::{AppHandle, Manager, RunEvent, WindowEvent};

/// Registers every command; used by the app and by the mock-runtime tests.
pub fn handlers<R: tauri::Runtime>(
) -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        commands::session,
        commands::sign_in,
        commands::sign_out,
        commands::accounts,
        commands::set_active_account,
        commands::engine_state,
        commands::conversations,
        commands::history,
        commands::messages::send_message,
        commands::messages::edit_message,
        commands::messages::delete_message,
        commands::messages::react,
        commands::messages::set_notify_level,
        commands::people::search_users,
        commands::people::me,
        commands::people::set_display_name,
        commands::people::create_conversation,
        commands::people::rename_conversation,
        commands::people::add_participants,
        commands::people::remove_participant,
        commands::people::leave_conversation,
        commands::retry_message,
        commands::mark_read,
        commands::set_typing,
        commands::focus_conversation,
        commands::notifications,
        commands::mark_notification_read,
        commands::mark_all_notifications_read,
        commands::unread_notifications,
        commands::search,
        commands::get_settings,
        commands::set_settings,
        commands::reconnect_now,
        commands::report_first_paint,
        commands::profiles::profile_form,
        commands::profiles::save_profile,
        commands::profiles::test_profile,
        commands::profiles::remove_profile,
        commands::view::drafts,
        commands::view::save_draft,
        commands::view::last_open,
        commands::view::set_last_open,
        commands::view::scroll_anchor,
        commands::view::set_scroll_anchor,
        commands::files::local_files,
        commands::files::pick_files,
        commands::files::paste_file,
        commands::files::discard_files,
        commands::files::largest_attachment,
        commands::files::send_files,
        commands::files::cancel_message,
        commands::files::attachment_bytes,
        commands::files::open_attachment,
        commands::files::save_attachment,
        commands::files::download_limit,
        commands::files::set_download_limit,
        updates::check_update,
        updates::download_update,
        updates::install_update,
    ]
}

/// Where the app keeps its data: `TIDINGS_APP_DIR` if set (tests), else the platform's.
fn dirs<R: tauri::Runtime>(
    app: &AppHandle<R>,
) -> tauri::Result<(std::path::PathBuf, std::path::PathBuf)> {
    if let Some(d) = std::env::var_os("TIDINGS_APP_DIR") {
        let d = std::path::PathBuf::from(d);
        return Ok((d.join("config"), d.join("data")));
    }
    Ok((app.path().app_config_dir()?, app.path().app_data_dir()?))
}

/// Logs go to standard error, at `TIDINGS_LOG`'s levels (warnings by default).
fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIDINGS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// The tray process (`tidings-tray`): the accounts, notifications and tray without WebKit
/// (`tray_only`). Where it is not built yet (Windows, macOS) it starts the app hidden.
pub fn run_tray() {
    let launch = telemetry::Launch::new(std::time::Instant::now());
    init_tracing();
    #[cfg(all(unix, not(target_os = "macos")))]
    tray_only::run(launch);
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        drop(launch);
        let app = owner::sibling(owner::APP_BINARY)
            .map(|app| std::process::Command::new(app).arg("--hidden").spawn());
        if let Err(e) | Ok(Err(e)) = app {
            eprintln!("tidings-tray: cannot start the app: {e}");
            std::process::exit(1);
        }
    }
}

pub fn run() {
    // Startup telemetry counts from here (see `telemetry`).
    let launch = telemetry::Launch::new(std::time::Instant::now());
    init_tracing();
    // Started by the tray process (`handover`): no tray of its own, ends when hidden.
    let child = std::env::args().any(|a| a == handover::WINDOW_FLAG);
    let hidden = !child && std::env::args().any(|a| a == "--hidden" || a == "--tray-only");
    // The tray process's binary beside this one (`owner`), looked up once.
    let tray_binary = if child { None } else { owner::tray_binary() };
    // A start in the tray is the tray process's, where there is one (`owner`): this process
    // becomes it, keeping its id (what started it, the login's autostart, still sees it).
    #[cfg(unix)]
    if hidden {
        if let Some(tray) = &tray_binary {
            use std::os::unix::process::CommandExt;
            let e = std::process::Command::new(tray).exec();
            tracing::warn!(error = %e, tray = %tray.display(), "cannot start the tray process; starting hidden");
        }
    }
    // Hiding the window hands over to the tray process (`owner`), unless started by it.
    let hands_over = tray_binary.is_some();
    let mut builder = tauri::Builder::default();
    // First: a second launch hands over to this one and exits. The window's process started
    // by the tray process is not the instance: its parent is, and shows it.
    if !child {
        builder = builder.plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            // A start in the tray (the login's autostart) while the app runs: nothing to do.
            if !owner::wants_tray(&argv) {
                window::show(app, None);
            }
        }));
    }
    let app = builder
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec!["--hidden"]),
        ))
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        .plugin(window::state_plugin())
        .manage(updates::Pending::default())
        .manage(launch)
        .invoke_handler(handlers())
        .setup(move |app| {
            let handle = app.handle().clone();
            let (config_dir, data_dir) = dirs(&handle)?;
            // The accounts are this process's (the window's process started by the tray
            // process runs them while its parent holds them).
            if !child {
                app.manage(owner::take(&data_dir)?);
            }
            if hands_over {
                app.manage(window::HandsOver);
            }
            // Pasted files and opened copies of the last run are done with (not in the window's
            // process the tray process starts: the last window's may still be open in a viewer).
            if !child {
                scratch::sweep(&data_dir);
            }
            let state = AppState::new(config_dir, data_dir).map_err(|e| e.to_string())?;
            app.manage(state);
            // The one listener for desktop notifications' clicks (started with the first).
            #[cfg(all(unix, not(target_os = "macos")))]
            app.manage(toasts::bus::Bus::default());
            if child {
                // The tray is the tray process's: what it shows goes there.
                app.manage(handover::Link);
                handover::listen(&handle);
                if let Some(state) = app.try_state::<AppState>() {
                    state.set_pending_open(handover::opening_arg());
                }
            } else {
                // Do not disturb is each account's: the first drawing (below) checks it.
                let tray = tray::build(&handle, false)?;
                app.manage(tray);
            }
            // The window is built here, not from the configuration, so that a start in the
            // tray builds none.
            if hidden {
                window::hide(&handle);
            } else {
                window::build(&handle)?;
            }
            start_session(&handle);
            tray::refresh(&handle);
            Ok(())
        })
        .on_window_event(|window, event| {
            let app = window.app_handle();
            match event {
                WindowEvent::CloseRequested { api, .. } => {
                    let close_to_tray = app
                        .try_state::<AppState>()
                        .is_some_and(|s| s.settings().close_to_tray && !s.is_quitting());
                    if close_to_tray {
                        api.prevent_close();
                        window::hide(app);
                    } else {
                        window::quit(app);
                    }
                }
                WindowEvent::Focused(focused) => {
                    if let Some(s) = app.try_state::<AppState>() {
                        s.set_focused(*focused);
                    }
                }
                _ => {}
            }
        })
        .build(context())
        .expect("the Tidings window could not be created");
    app.run(|app, event| {
        if let RunEvent::ExitRequested { api, code, .. } = event {
            // Without windows the app lives on in the tray, unless asked to quit.
            let quitting = app.try_state::<AppState>().is_some_and(|s| s.is_quitting());
            if code.is_none() && !quitting {
                api.prevent_exit();
            }
        }
    });
}

/// The built-in configuration, with plain-HTTP updates allowed only when
/// `TIDINGS_UPDATE_URL` points at this machine.
fn context() -> tauri::Context<tauri::Wry> {
    let mut ctx = tauri::generate_context!();
    let loopback = std::env::var("TIDINGS_UPDATE_URL").is_ok_and(|u| updates::loopback_http(&u));
    if loopback {
        if let Some(serde_json::Value::Object(updater)) =
            ctx.config_mut().plugins.0.get_mut("updater")
        {
            updater.insert("dangerousInsecureTransportProtocol".into(), true.into());
        }
    }
    ctx
}

/// At launch: every saved account's session, or (for `make run`) the demo account from the
/// environment.
fn start_session<R: tauri::Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let accounts = state.credentials.accounts();
    let others = !profiles::store(&state).list().is_empty();
    if !accounts.is_empty() || others {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            if let Some(state) = app.try_state::<AppState>() {
                // Servers of another kind too (connection profiles), after the Tidings ones.
                for account in &accounts {
                    if let Err(e) = session::start(&app, &state, account, None) {
                        tracing::warn!(error = %e, "cannot start a saved session");
                    }
                }
                profiles::start_all(&app, &state);
            }
        });
        return;
    }
    let demo = (
        std::env::var("TIDINGS_SERVER"),
        std::env::var("TIDINGS_DEMO_USER"),
        std::env::var("TIDINGS_DEMO_PASSWORD"),
    );
    if let (Ok(server), Ok(user), Ok(password)) = demo {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            if let Some(state) = app.try_state::<AppState>() {
                match session::sign_in(&app, &state, &server, &user, &password, false).await {
                    Ok(info) => {
                        use tauri::Emitter;
                        let _ = app.emit("session", info);
                    }
                    Err(e) => tracing::warn!(error = %e, "demo sign-in failed"),
                }
            }
        });
    }
}
