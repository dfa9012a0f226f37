//! The OpenAPI document, generated from the handlers' annotations and the contract types.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Tidings",
        description = "Chat and notifications. Live events travel over STOMP 1.2 on WebSocket at /ws \
            (Spring's destination conventions); this API covers accounts, history, catch-up and \
            notifications. Every error is {\"error\", \"message\"} with its status code."
    ),
    paths(
        super::auth::register, super::auth::login, super::auth::refresh, super::auth::logout,
        super::auth::me, super::auth::user, super::directory::list, super::directory::update_me,
        super::conversations::list, super::conversations::create, super::conversations::get_one,
        super::conversations::add_participants, super::conversations::history,
        super::conversations::send, super::conversations::read,
        super::membership::rename, super::membership::remove,
        super::actions::edit, super::actions::delete, super::actions::react,
        super::actions::changes,
        super::notifications::list, super::notifications::create, super::notifications::mark_read,
        super::notifications::mark_all_read,
        super::notifications::stream, super::notifications::stream_for,
        super::notifications::announcements, super::notifications::announce,
        super::uploads::options, super::uploads::create, super::uploads::head,
        super::uploads::patch, super::uploads::cancel,
        super::attachments::download, super::attachments::thumbnail,
    ),
    components(schemas(tidings_proto::Envelope, tidings_proto::Event)),
    modifiers(&BearerAuth, &RequestRate),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "users"), (name = "conversations"), (name = "messages"),
        (name = "notifications"), (name = "announcements"),
        (name = "attachments", description = "Files: tus 1.0.0 uploads under /api/uploads, downloads"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "An access token from /api/auth/login, or the service token",
                        ))
                        .build(),
                ),
            );
        }
    }
}

/// Every operation that takes a user's token may answer 429 (`limits.requests_per_minute`)
/// with `Retry-After`: added here once rather than on every handler.
struct RequestRate;

const RATE_LIMITED: &str = "Too many requests from this user (limits.requests_per_minute); \
    Retry-After says when to try again";

impl Modify for RequestRate {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, Type};
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                if op.security.as_ref().is_none_or(Vec::is_empty) {
                    continue;
                }
                let retry_after = HeaderBuilder::new()
                    .schema(utoipa::openapi::ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("Seconds until a request is accepted again"))
                    .build();
                let responses = &mut op.responses.responses;
                match responses.get_mut("429") {
                    // Already refused for another reason: one more.
                    Some(RefOr::T(r)) => {
                        r.description = format!("{}; or: {RATE_LIMITED}", r.description);
                        r.headers.insert("Retry-After".into(), retry_after);
                    }
                    Some(RefOr::Ref(_)) => {}
                    None => {
                        let content = ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build();
                        let response = ResponseBuilder::new()
                            .description(RATE_LIMITED)
                            .content("application/json", content)
                            .header("Retry-After", retry_after)
                            .build();
                        responses.insert("429".into(), RefOr::T(response));
                    }
                }
            }
        }
    }
}

/// `GET /api/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
