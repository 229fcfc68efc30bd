//! The tower layer in front of every gRPC service: health and reflection
//! stay open; any other call is authenticated by its bearer token, refused
//! unless the client may call its service, and carries its `Caller` into the
//! request's extensions for the handler to scope tenants by.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready};
use tonic::codegen::http;
use tower::{Layer, Service as TowerService};

use super::{AccessError, AccessPolicy, Caller, Service};

/// The services anyone may call: load balancers probe health without
/// credentials, and reflection describes the API, not its data.
const OPEN_SERVICES: [&str; 3] = [
    tonic_health::pb::health_server::SERVICE_NAME,
    tonic_reflection::pb::v1::server_reflection_server::SERVICE_NAME,
    tonic_reflection::pb::v1alpha::server_reflection_server::SERVICE_NAME,
];

/// What a call's path asks for.
enum Route<'a> {
    Open,
    Guarded(Service),
    /// A service the hub does not list: nobody is permitted, so a service
    /// added without a place here is refused rather than left open.
    Unlisted(&'a str),
}

fn route(path: &str) -> Route<'_> {
    // The first segment, exactly as the router reads it: a path that is not
    // `/{service}/{method}` matches no open service, so it cannot slip by.
    let service = path
        .strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .next()
        .unwrap_or("");
    if OPEN_SERVICES.contains(&service) {
        return Route::Open;
    }
    Service::ALL
        .into_iter()
        .find(|s| s.grpc_name() == service)
        .map_or(Route::Unlisted(service), Route::Guarded)
}

impl AccessPolicy {
    /// Whether a call to `path` with this `authorization` header value may
    /// proceed, and as whom (none for the open services).
    pub(crate) fn admit(
        &self,
        path: &str,
        authorization: Option<&[u8]>,
    ) -> Result<Option<Caller>, AccessError> {
        match route(path) {
            Route::Open => Ok(None),
            Route::Unlisted(_) if self.is_open() => Ok(None),
            Route::Unlisted(name) => {
                let caller = self.authenticate(authorization)?;
                Err(caller.service_not_permitted(name))
            }
            Route::Guarded(service) => {
                let caller = self.authenticate(authorization)?;
                caller.check_service(service)?;
                Ok(Some(caller))
            }
        }
    }
}

/// Wraps the gRPC router in `Authenticate`.
#[derive(Clone)]
pub(crate) struct AuthenticateLayer {
    policy: Arc<AccessPolicy>,
}

impl AuthenticateLayer {
    pub(crate) fn new(policy: AccessPolicy) -> AuthenticateLayer {
        AuthenticateLayer {
            policy: Arc::new(policy),
        }
    }
}

impl<S> Layer<S> for AuthenticateLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Authenticate<S> {
        Authenticate {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// Admits or refuses each call before it reaches its service; a refusal is
/// a gRPC status with an `ErrorInfo`, as every other error of the hub.
#[derive(Clone)]
pub(crate) struct Authenticate<S> {
    inner: S,
    policy: Arc<AccessPolicy>,
}

impl<S, RequestBody, ResponseBody> TowerService<http::Request<RequestBody>> for Authenticate<S>
where
    S: TowerService<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    ResponseBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<S::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<RequestBody>) -> Self::Future {
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|value| value.as_bytes());
        match self.policy.admit(request.uri().path(), authorization) {
            Ok(caller) => {
                if let Some(caller) = caller {
                    request.extensions_mut().insert(caller);
                }
                Either::Right(self.inner.call(request))
            }
            Err(error) => {
                let status = tonic::Status::from(error);
                Either::Left(futures::future::ready(Ok(status.into_http())))
            }
        }
    }
}
