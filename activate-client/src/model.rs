//! Wire models of the ACTIVATE REST API, as far as the syncer needs them.
//!
//! Unknown fields are ignored and fields the syncer does not need are optional, so that API
//! additions and omissions do not break a run. Fields the snapshot depends on (`username`,
//! `active`, a group's `name`) are required: guessing them would be lying.

use serde::Deserialize;

/// One page of `GET /api/organizations/{org}/users`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct UsersPage {
    /// How many users match in total (all pages).
    pub total: u64,
    /// This page's users (`null` is read as empty).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub users: Vec<OrgUser>,
}

/// A user of an organization.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OrgUser {
    /// The user's id (a 24-hex ObjectId).
    pub id: String,
    /// The username: the identity the snapshot is keyed by.
    pub username: String,
    /// Whether the user may sign in.
    pub active: bool,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Full name as one string.
    #[serde(default)]
    pub name: Option<String>,
    /// Organization administrator.
    #[serde(default)]
    pub admin: Option<bool>,
    /// `active`, `complimentary` or `inactive`.
    #[serde(default)]
    pub license_status: Option<String>,
    /// POSIX uid.
    #[serde(default)]
    pub uid: Option<i64>,
}

/// A group of an organization (`GET /api/organizations/{org}/groups`).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Group {
    /// The group's name; URLs address a group by it.
    pub name: String,
    /// The group's stable id.
    #[serde(default)]
    pub id: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// POSIX gid.
    #[serde(default)]
    pub gid: Option<i64>,
}

/// One member of a group (`GET /api/organizations/{org}/groups/{name}/members`).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Member {
    /// The member's username (joined to the users list case-insensitively).
    pub username: String,
    /// The member's user id.
    #[serde(default)]
    pub id: Option<String>,
    /// The member's email.
    #[serde(default)]
    pub email: Option<String>,
}

/// The group list is documented as a bare array; an `{"groups": [...]}` envelope is accepted
/// too, in case the API adopts the users route's shape.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum GroupList {
    Bare(Vec<Group>),
    Envelope {
        #[serde(deserialize_with = "null_as_empty")]
        groups: Vec<Group>,
    },
}

impl GroupList {
    pub(crate) fn into_vec(self) -> Vec<Group> {
        match self {
            GroupList::Bare(groups) | GroupList::Envelope { groups } => groups,
        }
    }
}

/// `GET /api/auth/whoami/organization`: documented as a JSON string; an object with a
/// `name` is accepted too.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum WhoamiOrganization {
    Name(String),
    Object { name: String },
}

fn null_as_empty<'de, D, T>(de: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(de)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_page_tolerates_null_and_unknown_fields() {
        let page: UsersPage =
            serde_json::from_str(r#"{"total":0,"users":null,"extra":1}"#).unwrap();
        assert!(page.users.is_empty());
        let page: UsersPage = serde_json::from_str(
            r#"{"total":1,"users":[{"id":"65a1","username":"ada","active":true,"admin":false,
                "billingAdmin":false,"complimentary":false,"licenseStatus":"active",
                "email":null,"new":"field"}]}"#,
        )
        .unwrap();
        assert_eq!(page.users[0].username, "ada");
        assert_eq!(page.users[0].email, None);
    }

    #[test]
    fn group_list_bare_or_enveloped() {
        let bare: GroupList =
            serde_json::from_str(r#"[{"name":"a b","id":"1","members":3}]"#).unwrap();
        assert_eq!(bare.into_vec()[0].name, "a b");
        let env: GroupList = serde_json::from_str(r#"{"groups":[{"name":"x"}]}"#).unwrap();
        assert_eq!(env.into_vec()[0].id, None);
    }
}
