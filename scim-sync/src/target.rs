//! The SCIM side: reading what the target holds into the engine's [`ObservedState`], and the
//! engine's [`scim_diff::Target`] implemented over [`ScimClient`].
//!
//! Listing asks the server for `externalId sw "<prefix>"` only; the engine re-checks the
//! prefix, so a server that ignores the filter still never leads to a write on a foreign
//! record. A server that refuses the `sw` filter (`400 invalidFilter`) is listed unfiltered,
//! with a warning.

use std::collections::HashSet;

use futures_util::TryStreamExt;
use scim_client::{
    CoreWeaveUser, Email, Error, Filter, Group, ListQuery, Member, Name as ScimName, PatchOp,
    PatchOpBuilder, Resource, Resources, ScimClient, User,
};
use scim_diff::apply::{Target, TargetError};
use scim_diff::{DesiredUser, Name, ObservedGroup, ObservedState, ObservedUser, UserChanges};

/// What reading the target produced besides the state.
#[derive(Debug, Default)]
pub struct ReadNotes {
    /// Things the operator should know (a refused filter, records without an id).
    pub warnings: Vec<String>,
}

/// Lists the users and groups whose `externalId` starts with `prefix` (all pages, checked).
///
/// Each page is turned into the engine's records as it arrives, so only one page of SCIM
/// resources (with their `meta`, `groups` and other attributes the engine does not read) is
/// held at a time, never the whole listing.
pub async fn read_observed(
    client: &ScimClient,
    prefix: &str,
) -> Result<(ObservedState, ReadNotes), Error> {
    let filtered = ListQuery::new().filter(Filter::sw("externalId", prefix));
    let (users, groups) = tokio::join!(
        read_side(client.users(), &filtered, prefix, "user", observed_user),
        read_side(client.groups(), &filtered, prefix, "group", observed_group)
    );
    let (users, groups) = (users?, groups?);
    if users.outside_prefix + groups.outside_prefix > 0 {
        tracing::warn!(
            users = users.outside_prefix,
            groups = groups.outside_prefix,
            "the target returned records outside the managed prefix (filter ignored?); they \
             are left untouched"
        );
    }
    let mut notes = users.notes;
    notes.warnings.extend(groups.notes.warnings);
    let state = ObservedState {
        users: users.records,
        groups: groups.records,
    };
    tracing::info!(
        users = state.users.len(),
        groups = state.groups.len(),
        "read the target"
    );
    Ok((state, notes))
}

/// Names looked up in one request (`userName eq "a" or userName eq "b" or ...`): a URL of a
/// few kilobytes, well inside what servers and proxies take.
pub const NAMES_PER_LOOKUP: usize = 40;

/// The target records that hold names a plan would newly take and that the managed read did
/// not return (unmanaged records, when the server honours the `externalId sw` filter).
#[derive(Debug, Default)]
pub struct Holders {
    /// Users holding one of the `userName`s.
    pub users: Vec<ObservedUser>,
    /// Groups holding one of the `displayName`s.
    pub groups: Vec<ObservedGroup>,
    /// Lookup requests sent.
    pub requests: usize,
}

/// Finds who holds each of `user_names` (as `userName`) and `group_names` (as
/// `displayName`), with the cheaper of [`NAMES_PER_LOOKUP`] names per request and one walk of
/// the records (see `lookup_names`): the cost follows what is being created or renamed, or
/// the size of the target when that is smaller. A server that refuses an `or` filter gets one
/// `eq` per name. Any other failure is an error: the plan cannot be trusted without the
/// answer.
pub async fn read_holders(
    client: &ScimClient,
    user_names: &[String],
    group_names: &[String],
) -> Result<Holders, Error> {
    let page = client.page_size();
    let (users, user_requests) = lookup_names(client.users(), "userName", user_names, page, |u| {
        &u.user_name
    })
    .await?;
    let (groups, group_requests) =
        lookup_names(client.groups(), "displayName", group_names, page, |g| {
            &g.display_name
        })
        .await?;
    // a holder without an id cannot be addressed, so it cannot block or be adopted either
    let mut notes = ReadNotes::default();
    Ok(Holders {
        users: users
            .into_iter()
            .filter_map(|u| observed_user(u, &mut notes))
            .collect(),
        groups: groups
            .into_iter()
            .filter_map(|g| observed_group(g, &mut notes))
            .collect(),
        requests: user_requests + group_requests,
    })
}

/// The records whose `attr` (`name_of`) equals one of `names`, and the requests it took, by
/// the cheaper of two ways: the names in batches, or, when the target holds fewer records than
/// that would take requests (an initial sync into a small or empty target), one walk of every
/// record. Which one is decided from the target's `totalResults` (a `count=0` request), asked
/// only when the names need more than one batch.
async fn lookup_names<T: Resource>(
    handler: Resources<T>,
    attr: &str,
    names: &[String],
    page_size: u32,
    name_of: fn(&T) -> &str,
) -> Result<(Vec<T>, usize), Error> {
    let batches = names.len().div_ceil(NAMES_PER_LOOKUP) as u64;
    if batches > 1 {
        let total = handler
            .list_page(&ListQuery::new(), 1, 0)
            .await?
            .total_results;
        if total == Some(0) {
            return Ok((Vec::new(), 1)); // an empty target holds no name
        }
        if let Some(total) = total
            && total.div_ceil(u64::from(page_size.max(1))) < batches
        {
            let wanted: HashSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
            let mut found = Vec::new();
            let mut stream = handler.list_stream(&ListQuery::new());
            while let Some(record) = stream.try_next().await? {
                if wanted.contains(&name_of(&record).to_lowercase()) {
                    found.push(record);
                }
            }
            let pages = usize::try_from(total.div_ceil(u64::from(page_size.max(1)))).unwrap_or(0);
            return Ok((found, 1 + pages));
        }
        let (found, requests) = lookup_in_batches(&handler, attr, names).await?;
        return Ok((found, 1 + requests));
    }
    lookup_in_batches(&handler, attr, names).await
}

/// [`NAMES_PER_LOOKUP`] names per `eq ... or ...` request; one per request on a server that
/// refuses `or`.
async fn lookup_in_batches<T: Resource>(
    handler: &Resources<T>,
    attr: &str,
    names: &[String],
) -> Result<(Vec<T>, usize), Error> {
    let mut found = Vec::new();
    let mut requests = 0;
    let mut per_request = NAMES_PER_LOOKUP;
    let mut rest = names;
    while !rest.is_empty() {
        let (batch, after) = rest.split_at(per_request.min(rest.len()));
        let filter = batch
            .iter()
            .map(|name| Filter::eq(attr, name.as_str()))
            .reduce(Filter::or)
            .expect("a batch is never empty");
        requests += 1;
        match handler.list(&ListQuery::new().filter(filter)).await {
            Ok(records) => found.extend(records),
            Err(e) if refused_filter(&e) && batch.len() > 1 => {
                tracing::info!(error = %e, "the target refused an `or` filter; one name per lookup");
                per_request = 1;
                continue; // the same names again, one at a time
            }
            Err(e) => return Err(e),
        }
        rest = after;
    }
    Ok((found, requests))
}

/// What listing one resource type produced.
struct Side<O> {
    records: Vec<O>,
    /// Listed records whose `externalId` lacks the prefix (a server that ignored the filter).
    outside_prefix: usize,
    notes: ReadNotes,
}

/// Lists one resource type with the `externalId sw` filter, or every record when the server
/// refuses that filter (with a warning), converting page by page.
async fn read_side<T: Resource, O>(
    handler: Resources<T>,
    filtered: &ListQuery,
    prefix: &str,
    noun: &str,
    convert: fn(T, &mut ReadNotes) -> Option<O>,
) -> Result<Side<O>, Error> {
    match list_converted(&handler, filtered, prefix, convert).await {
        Err(e) if refused_filter(&e) => {
            let mut side = list_converted(&handler, &ListQuery::new(), prefix, convert).await?;
            side.notes.warnings.insert(
                0,
                format!(
                    "the target refused the filter `externalId sw \"{prefix}\"` ({e}); listed \
                     every {noun} instead"
                ),
            );
            Ok(side)
        }
        other => other,
    }
}

async fn list_converted<T: Resource, O>(
    handler: &Resources<T>,
    query: &ListQuery,
    prefix: &str,
    convert: fn(T, &mut ReadNotes) -> Option<O>,
) -> Result<Side<O>, Error> {
    let mut side = Side {
        records: Vec::new(),
        outside_prefix: 0,
        notes: ReadNotes::default(),
    };
    let mut stream = handler.list_stream(query);
    while let Some(record) = stream.try_next().await? {
        if !record.external_id().is_some_and(|e| e.starts_with(prefix)) {
            side.outside_prefix += 1;
        }
        if let Some(o) = convert(record, &mut side.notes) {
            side.records.push(o);
        }
    }
    Ok(side)
}

/// Whether the target refused a filter (rather than failing): a `400` with `scimType`
/// `invalidFilter`, or a `501`. The one rule for "the server does not do this filter", used
/// when listing and by the CLI's `check`.
pub fn refused_filter(e: &Error) -> bool {
    match e.status() {
        Some(400) => e
            .scim_type()
            .is_some_and(|t| t.eq_ignore_ascii_case("invalidFilter")),
        Some(501) => true,
        _ => false,
    }
}

/// Whether the target declares the CoreWeave user extension (where `sunkSshKeys` lives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionSupport {
    /// `/ResourceTypes` lists it among the User type's extensions, or `/Schemas` has it.
    Declared,
    /// The target serves discovery and declares no such extension: it would refuse a user
    /// that carries one. How it was found (which endpoints answered).
    NotDeclared {
        /// What discovery answered, for the message.
        found: String,
    },
    /// The target serves neither `/ResourceTypes` nor `/Schemas`: unknown.
    NoDiscovery,
}

impl ExtensionSupport {
    /// The sentence for an operator, naming the option that syncs without keys.
    pub fn explain(&self) -> String {
        let urn = scim_client::schemas::COREWEAVE_USER;
        match self {
            ExtensionSupport::Declared => format!("the target declares {urn}"),
            ExtensionSupport::NotDeclared { found } => format!(
                "the target does not declare the CoreWeave user extension {urn} ({found}), so \
                 it would refuse every user write that carries SSH keys; for a target that is \
                 not CoreWeave, turn SSH key sync off (sync_ssh_keys = false) to sync users and \
                 groups without keys"
            ),
            ExtensionSupport::NoDiscovery => format!(
                "the target serves neither /ResourceTypes nor /Schemas, so whether it accepts \
                 {urn} is unknown; if user writes with SSH keys fail, turn SSH key sync off \
                 (sync_ssh_keys = false)"
            ),
        }
    }
}

/// Asks the target's discovery whether it declares the CoreWeave user extension: the User
/// resource type's `schemaExtensions` first, then `/Schemas` (some servers list one, not the
/// other). Read-only; a failed request is an error (the caller decides what it costs).
pub async fn extension_support(client: &ScimClient) -> Result<ExtensionSupport, Error> {
    let urn = scim_client::schemas::COREWEAVE_USER;
    let resource_types = client.resource_types().await?;
    if let Some(types) = &resource_types {
        let user_type = types
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case("User") || t.endpoint.ends_with("/Users"));
        let declared = user_type.is_some_and(|t| {
            t.schema_extensions
                .iter()
                .any(|e| e.schema.eq_ignore_ascii_case(urn))
        });
        if declared {
            return Ok(ExtensionSupport::Declared);
        }
    }
    let schemas = client.schemas().await?;
    match (resource_types, schemas) {
        (_, Some(schemas)) if schemas.iter().any(|s| s.id.eq_ignore_ascii_case(urn)) => {
            Ok(ExtensionSupport::Declared)
        }
        (None, None) => Ok(ExtensionSupport::NoDiscovery),
        (types, schemas) => {
            let mut found = Vec::new();
            if let Some(types) = types {
                found.push(format!("/ResourceTypes lists {} type(s)", types.len()));
            }
            if let Some(schemas) = schemas {
                found.push(format!("/Schemas lists {} schema(s)", schemas.len()));
            }
            Ok(ExtensionSupport::NotDeclared {
                found: format!("{}, none of them it", found.join(" and ")),
            })
        }
    }
}

/// One listed user as the engine sees it; a record without an id cannot be addressed.
pub fn observed_user(user: User, notes: &mut ReadNotes) -> Option<ObservedUser> {
    let Some(id) = user.id else {
        notes.warnings.push(format!(
            "the target listed user {:?} without an id; ignored",
            user.user_name
        ));
        return None;
    };
    // the primary address first (else the first one), then the others in order, once each
    let primary = user
        .emails
        .iter()
        .position(|e| e.primary == Some(true))
        .unwrap_or(0);
    let mut listed: Vec<String> = user.emails.into_iter().map(|e| e.value).collect();
    if primary < listed.len() {
        listed[..=primary].rotate_right(1);
    }
    let mut emails: Vec<String> = Vec::with_capacity(listed.len());
    for e in listed {
        if !emails.contains(&e) {
            emails.push(e);
        }
    }
    let name = user
        .name
        .map(|n| Name {
            formatted: n.formatted,
            given_name: n.given_name,
            family_name: n.family_name,
        })
        .unwrap_or_default();
    Some(ObservedUser {
        ssh_keys: user.coreweave.map(|c| c.sunk_ssh_keys).unwrap_or_default(),
        id,
        version: user.meta.and_then(|m| m.version),
        external_id: user.external_id,
        user_name: user.user_name,
        display_name: user.display_name,
        name,
        emails,
        active: user.active.unwrap_or(true),
    })
}

/// One listed group as the engine sees it.
pub fn observed_group(group: Group, notes: &mut ReadNotes) -> Option<ObservedGroup> {
    let Some(id) = group.id else {
        notes.warnings.push(format!(
            "the target listed group {:?} without an id; ignored",
            group.display_name
        ));
        return None;
    };
    Some(ObservedGroup {
        members: group.members.into_iter().map(|m| m.value).collect(),
        id,
        version: group.meta.and_then(|m| m.version),
        external_id: group.external_id,
        display_name: group.display_name,
    })
}

/// The engine's [`Target`] over a [`ScimClient`]: every write is one SCIM request (a POST or
/// a PATCH; never a PUT, never a DELETE).
#[derive(Debug, Clone)]
pub struct ScimTarget {
    client: ScimClient,
}

impl ScimTarget {
    /// Writes through this client.
    pub fn new(client: ScimClient) -> ScimTarget {
        ScimTarget { client }
    }
}

impl ScimTarget {
    /// A create refused with 409 `uniqueness`: the `userName` is held by a record the list
    /// did not show (a server that honours the `externalId sw` filter hides unmanaged users
    /// from the engine's conflict check). Say who holds it, so the operator can act; the
    /// syncer never takes over a record without its prefix.
    async fn explain_taken(&self, desired: &DesiredUser, e: Error) -> TargetError {
        let filter = Filter::eq("userName", desired.user_name.as_str());
        let query = ListQuery::new().filter(filter);
        let holder = match self.client.users().list(&query).await {
            Ok(users) => users
                .into_iter()
                .find(|u| u.user_name.eq_ignore_ascii_case(desired.user_name.as_str())),
            Err(_) => None,
        };
        match holder {
            Some(h) => TargetError::conflict(format!(
                "409 uniqueness: userName {:?} is already held by SCIM user {} (externalId {}), \
                 which this syncer does not manage; rename or remove that user, or give it externalId {:?} to hand \
                 it over, then run again",
                desired.user_name,
                h.id.as_deref().unwrap_or("?"),
                h.external_id
                    .as_deref()
                    .map_or_else(|| "none".to_string(), |x| format!("{x:?}")),
                desired.external_id,
            )),
            None => target_error(e),
        }
    }
}

/// An adoption goes ahead only if the record still has the `externalId` it was planned with:
/// another tool may have claimed it since.
fn still_unclaimed(now: Option<&str>, previous: Option<&str>) -> Result<(), TargetError> {
    if now == previous {
        Ok(())
    } else {
        Err(TargetError::other(format!(
            "not adopted: its externalId is now {now:?}, not {previous:?} as when planned"
        )))
    }
}

/// Classifies a client error for the engine: credentials and configuration problems stop
/// every write, a request with no answer has an unknown outcome, the rest is per record.
pub fn target_error(e: Error) -> TargetError {
    let message = e.to_string();
    match e {
        Error::Unauthorized { .. } | Error::InsecureUrl { .. } | Error::Config(_) => {
            TargetError::fatal(message)
        }
        Error::Transport { .. } => TargetError::fatal(message),
        Error::OutcomeUnknown { .. } => TargetError::outcome_unknown(message),
        _ => TargetError::other(message),
    }
}

fn emails_value(emails: &[String]) -> Vec<Email> {
    emails
        .iter()
        .enumerate()
        .map(|(i, e)| Email {
            primary: Some(i == 0),
            ..Email::work(e.clone())
        })
        .collect()
}

fn scim_name(name: &Name) -> Option<ScimName> {
    if name.is_empty() {
        return None;
    }
    Some(ScimName {
        formatted: name.formatted.clone(),
        given_name: name.given_name.clone(),
        family_name: name.family_name.clone(),
        ..ScimName::default()
    })
}

/// The PATCH operations for a set of attribute changes.
fn user_changes(
    mut b: PatchOpBuilder,
    changes: &UserChanges,
) -> Result<PatchOpBuilder, TargetError> {
    if let Some(user_name) = &changes.user_name {
        b = b.replace("userName", user_name.clone());
    }
    if let Some(display_name) = &changes.display_name {
        b = b.replace("displayName", display_name.clone());
    }
    if let Some(name) = &changes.name {
        b = match scim_name(name) {
            Some(n) => {
                // RFC 7644 §3.5.2.3: a replace of a complex attribute leaves the sub-attributes
                // it does not name unchanged, so a part that is gone must be removed, or the
                // update is planned again on every run ("Ada Lovelace" -> "Ada" kept the
                // familyName).
                let mut b = b.replace("name", to_value(&n)?);
                for (part, value) in [
                    ("name.formatted", &name.formatted),
                    ("name.givenName", &name.given_name),
                    ("name.familyName", &name.family_name),
                ] {
                    if value.is_none() {
                        b = b.remove(part);
                    }
                }
                b
            }
            None => b.remove("name"),
        };
    }
    if let Some(emails) = &changes.emails {
        b = if emails.is_empty() {
            b.remove("emails")
        } else {
            b.replace("emails", to_value(&emails_value(emails))?)
        };
    }
    if let Some(keys) = &changes.ssh_keys {
        b = if keys.is_empty() {
            b.remove(CoreWeaveUser::SSH_KEYS_PATH)
        } else {
            b.replace(CoreWeaveUser::SSH_KEYS_PATH, keys.clone())
        };
    }
    Ok(b)
}

/// A model as a PATCH value (only fails on a bug).
fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, TargetError> {
    serde_json::to_value(value)
        .map_err(|e| TargetError::fatal(format!("cannot encode a PATCH value: {e}")))
}

impl ScimTarget {
    async fn patch_user(&self, id: &str, op: PatchOp) -> Result<(), TargetError> {
        if op.is_empty() {
            return Ok(());
        }
        self.client
            .users()
            .patch(id, &op)
            .await
            .map(|_| ())
            .map_err(target_error)
    }
}

#[async_trait::async_trait]
impl Target for ScimTarget {
    /// The SCIM client's bound on requests in flight, when it adapts: writes follow it up
    /// while the target keeps up and down when it answers 429/503.
    fn write_lanes(&self) -> Option<usize> {
        let pacer = self.client.pacer();
        pacer.is_adaptive().then(|| pacer.limit())
    }

    async fn create_user(&self, desired: &DesiredUser) -> Result<String, TargetError> {
        let mut user = User::new(desired.user_name.clone());
        user.external_id = Some(desired.external_id.clone());
        user.display_name = Some(desired.display_name.clone());
        user.name = scim_name(&desired.name);
        user.emails = emails_value(&desired.emails);
        user.active = Some(true);
        if let Some(keys) = desired.ssh_keys.as_ref().filter(|k| !k.is_empty()) {
            user.coreweave = Some(CoreWeaveUser::with_ssh_keys(keys.iter().cloned()));
        }
        let created = match self.client.users().create(&user).await {
            Ok(created) => created,
            Err(e) if e.is_uniqueness() => return Err(self.explain_taken(desired, e).await),
            Err(e) => return Err(target_error(e)),
        };
        created
            .id
            .ok_or_else(|| TargetError::other("the target created the user but sent no id back"))
    }

    async fn update_user(&self, id: &str, changes: &UserChanges) -> Result<(), TargetError> {
        let op = user_changes(PatchOp::builder(), changes)?.build();
        self.patch_user(id, op).await
    }

    async fn set_active(&self, id: &str, active: bool) -> Result<(), TargetError> {
        let op = PatchOp::builder().replace("active", active).build();
        self.patch_user(id, op).await
    }

    async fn adopt_user(
        &self,
        id: &str,
        previous: Option<&str>,
        external_id: &str,
        changes: &UserChanges,
    ) -> Result<(), TargetError> {
        let now = self.client.users().get(id).await.map_err(target_error)?;
        still_unclaimed(now.external_id.as_deref(), previous)?;
        // one atomic PATCH: the managed externalId, the attributes, `active`
        let op = user_changes(
            PatchOp::builder().replace("externalId", external_id),
            changes,
        )?
        .replace("active", true)
        .build();
        self.patch_user(id, op).await
    }

    async fn reactivate_user(&self, id: &str, changes: &UserChanges) -> Result<(), TargetError> {
        // one atomic PATCH: the attributes, then `active`
        let op = user_changes(PatchOp::builder(), changes)?
            .replace("active", true)
            .build();
        self.patch_user(id, op).await
    }

    async fn create_group(
        &self,
        external_id: &str,
        display_name: &str,
        members: &[String],
    ) -> Result<String, TargetError> {
        let mut group = Group::new(display_name);
        group.external_id = Some(external_id.to_owned());
        group.members = members.iter().map(Member::new).collect();
        let created = self
            .client
            .groups()
            .create(&group)
            .await
            .map_err(target_error)?;
        let id = created.id.clone().ok_or_else(|| {
            TargetError::other("the target created the group but sent no id back")
        })?;
        // a target that dropped members it was sent (or does not show them) gets them in
        // a PATCH: the add converges if they were there after all
        let kept: HashSet<&str> = created.member_ids().collect();
        let missing: Vec<String> = members
            .iter()
            .filter(|m| !kept.contains(m.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            tracing::debug!(group = %id, missing = missing.len(), "members sent on create not in the answer: adding them");
            self.update_members(&id, &missing, &[]).await.map_err(|e| {
                TargetError {
                    kind: e.kind,
                    message: format!(
                        "created group {id} but adding the {} members its create did not keep failed: {}",
                        missing.len(),
                        e.message
                    ),
                }
            })?;
        }
        Ok(id)
    }

    async fn adopt_group(
        &self,
        id: &str,
        previous: Option<&str>,
        external_id: &str,
        display_name: &str,
    ) -> Result<(), TargetError> {
        let now = self.client.groups().get(id).await.map_err(target_error)?;
        still_unclaimed(now.external_id.as_deref(), previous)?;
        let op = PatchOp::builder()
            .replace("externalId", external_id)
            .replace("displayName", display_name)
            .build();
        self.client
            .groups()
            .patch(id, &op)
            .await
            .map(|_| ())
            .map_err(target_error)
    }

    async fn rename_group(&self, id: &str, display_name: &str) -> Result<(), TargetError> {
        let op = PatchOp::builder()
            .replace("displayName", display_name)
            .build();
        self.client
            .groups()
            .patch(id, &op)
            .await
            .map(|_| ())
            .map_err(target_error)
    }

    async fn update_members(
        &self,
        group_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), TargetError> {
        let mut b = PatchOp::builder().add_members(add);
        for id in remove {
            b = b.remove_member(id);
        }
        if b.is_empty() {
            return Ok(());
        }
        self.client
            .groups()
            .patch(group_id, &b.build())
            .await
            .map(|_| ())
            .map_err(target_error)
    }

    async fn find_user_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<String>, TargetError> {
        let found = self
            .client
            .users()
            .find_by_external_id(external_id)
            .await
            .map_err(target_error)?;
        Ok(found.into_iter().find_map(|u| u.id))
    }

    async fn find_group_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<String>, TargetError> {
        let found = self
            .client
            .groups()
            .find_by_external_id(external_id)
            .await
            .map_err(target_error)?;
        Ok(found.into_iter().find_map(|g| g.id))
    }
}
