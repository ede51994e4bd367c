//! Routing by path: the tenant prefix, the endpoint, the operation (for faults), the
//! query parameters.

use axum::http::Method;

use crate::faults::Op;
use crate::policy::Rule;
use crate::schema::ResourceKind;

/// What a request asks for.
#[derive(Debug, Clone)]
pub(super) enum Route {
    ServiceProviderConfig,
    /// The SCIM 1.1 name, answered in the 1.1 shape.
    ServiceProviderConfigs,
    ResourceTypes(Option<String>),
    Schemas(Option<String>),
    Collection(ResourceKind),
    Search(Option<ResourceKind>),
    Resource(ResourceKind, String),
    NotImplemented(&'static str),
}

pub(super) fn parse_route(segs: &[String]) -> Option<Route> {
    let kind = |s: &str| match s {
        "Users" => Some(ResourceKind::User),
        "Groups" => Some(ResourceKind::Group),
        "Roles" => Some(ResourceKind::Role),
        _ => None,
    };
    Some(match segs {
        [s] if s == "ServiceProviderConfig" => Route::ServiceProviderConfig,
        [s] if s == "ServiceProviderConfigs" => Route::ServiceProviderConfigs,
        [s] if s == "ResourceTypes" => Route::ResourceTypes(None),
        [s, id] if s == "ResourceTypes" => Route::ResourceTypes(Some(id.clone())),
        [s] if s == "Schemas" => Route::Schemas(None),
        [s, id] if s == "Schemas" => Route::Schemas(Some(id.clone())),
        [s] if s == ".search" => Route::Search(None),
        [s] if s == "Bulk" => Route::NotImplemented("bulk operations are not supported"),
        [s] if s == "Me" => Route::NotImplemented("/Me is not supported"),
        [s] => Route::Collection(kind(s)?),
        [s, x] if x == ".search" => Route::Search(Some(kind(s)?)),
        [s, id] => Route::Resource(kind(s)?, id.clone()),
        _ => return None,
    })
}

pub(super) fn op_of(route: &Route, method: &Method) -> (Option<ResourceKind>, Op) {
    match route {
        Route::Collection(k) if method == Method::POST => (Some(*k), Op::Create),
        Route::Collection(k) => (Some(*k), Op::List),
        Route::Search(k) => (*k, Op::Search),
        Route::Resource(k, _) => (
            Some(*k),
            match *method {
                Method::PUT => Op::Replace,
                Method::PATCH => Op::Patch,
                Method::DELETE => Op::Delete,
                _ => Op::Get,
            },
        ),
        _ => (None, Op::Discovery),
    }
}

/// The policy rules a request needs, all of them (a search of every resource type needs
/// every list rule); none for the routes that answer 501 to everyone.
pub(super) fn rules_of(route: &Route, method: &Method) -> Vec<Rule> {
    /// list, get, create, update, delete
    fn of(k: ResourceKind) -> [Rule; 5] {
        match k {
            ResourceKind::User => [
                Rule::ListUsers,
                Rule::GetUser,
                Rule::CreateUser,
                Rule::UpdateUser,
                Rule::DeleteUser,
            ],
            ResourceKind::Group => [
                Rule::ListGroups,
                Rule::GetGroup,
                Rule::CreateGroup,
                Rule::UpdateGroup,
                Rule::DeleteGroup,
            ],
            ResourceKind::Role => [
                Rule::ListRoles,
                Rule::GetRole,
                Rule::CreateRole,
                Rule::UpdateRole,
                Rule::DeleteRole,
            ],
        }
    }
    match route {
        Route::ServiceProviderConfig | Route::ServiceProviderConfigs => {
            vec![Rule::GetServiceProviderConfig]
        }
        Route::ResourceTypes(_) => vec![Rule::GetResourceTypes],
        Route::Schemas(_) => vec![Rule::GetSchemas],
        Route::Collection(k) if method == Method::POST => vec![of(*k)[2]],
        Route::Collection(k) => vec![of(*k)[0]],
        Route::Search(Some(k)) => vec![of(*k)[0]],
        Route::Search(None) => ResourceKind::ALL.iter().map(|k| of(*k)[0]).collect(),
        Route::Resource(k, _) => vec![match *method {
            Method::PUT | Method::PATCH => of(*k)[3],
            Method::DELETE => of(*k)[4],
            _ => of(*k)[1],
        }],
        Route::NotImplemented(_) => Vec::new(),
    }
}

/// Split `/a/b/v2/Users/x` into tenant `a/b` and `["Users", "x"]`.
pub(super) fn split_path(path: &str) -> Option<(String, Vec<String>)> {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let i = segs.iter().position(|s| s == "v2")?;
    Some((segs[..i].join("/"), segs[i + 1..].to_vec()))
}

pub(super) fn query_params(q: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = q else { return Vec::new() };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
