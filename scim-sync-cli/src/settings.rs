//! The effective settings of a run: the static configuration (flags, env, ConfigMap), merged
//! with the run-time `SCIMConfig` resource ([`scim_sync::dynamic`]), then turned into the engine's
//! [`Policy`]. Every effective value and its source is logged at info and put in the report.

use scim_diff::Policy;

use crate::config::{Config, DynamicConfig, PolicyConfig};
use scim_sync::dynamic::{self, EffectiveSettings, LookupOptions, StaticSettings};

/// The run's policy and where its switchable settings came from.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The engine's policy for this run.
    pub policy: Policy,
    /// The switchable settings with their sources (for the log and the report).
    pub settings: EffectiveSettings,
}

impl Effective {
    /// A warning for the report when the lookup fell back to the static settings.
    pub fn fallback_warning(&self) -> Option<String> {
        match &self.settings.lookup {
            dynamic::Lookup::Fallback { reason } => Some(format!(
                "run-time settings not used, static configuration in effect: {reason}"
            )),
            _ => None,
        }
    }
}

/// The static values of the settings the `SCIMConfig` resource may override.
pub fn static_settings(policy: &PolicyConfig) -> StaticSettings {
    let engine = Policy::default();
    StaticSettings {
        enable_user_sync: policy.enable_user_sync,
        enable_group_sync: policy.enable_group_sync,
        allow_non_provisioned_users: policy.allow_non_provisioned_users,
        sync_groups: policy.sync_groups.clone(),
        max_deactivations: policy
            .max_deactivations
            .resolve(engine.max_deactivations)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
    }
}

/// The engine's policy from the static configuration and the merged settings.
pub fn policy(config: &PolicyConfig, settings: &EffectiveSettings) -> Policy {
    let engine = Policy::default();
    Policy {
        username_from: config.username_from,
        sync_groups: settings.sync_groups.value.clone(),
        enable_user_sync: settings.enable_user_sync.value,
        enable_group_sync: settings.enable_group_sync.value,
        allow_non_provisioned_users: settings.allow_non_provisioned_users.value,
        max_deactivations: settings
            .max_deactivations
            .value
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        max_deactivation_percent: config
            .max_deactivation_percent
            .resolve(engine.max_deactivation_percent),
        max_membership_removals: config
            .max_membership_removals
            .resolve(engine.max_membership_removals),
        allow_mass_changes: config.allow_mass_changes,
        max_members_per_patch: config
            .max_members_per_patch
            .unwrap_or(engine.max_members_per_patch),
        ..engine
    }
}

/// Looks the run-time settings up (unless turned off) and merges them over the static ones.
pub async fn resolve(config: &Config) -> Effective {
    resolve_with(&config.policy, &config.dynamic).await
}

/// [`resolve`] with explicit parts (the demo turns the lookup off).
pub async fn resolve_with(policy_config: &PolicyConfig, dynamic: &DynamicConfig) -> Effective {
    let options = LookupOptions {
        enabled: dynamic.enabled,
        namespace: dynamic.namespace.clone(),
        name: dynamic.name.clone(),
        ..LookupOptions::default()
    };
    let lookup = dynamic::lookup(&options).await;
    let settings = dynamic::merge(&static_settings(policy_config), &lookup);
    for line in settings.describe() {
        tracing::info!(setting = %line, "effective setting");
    }
    let policy = policy(policy_config, &settings);
    tracing::debug!(
        max_deactivation_percent = ?policy.max_deactivation_percent,
        max_membership_removals = ?policy.max_membership_removals,
        max_members_per_patch = policy.max_members_per_patch,
        allow_mass_changes = policy.allow_mass_changes,
        "policy"
    );
    Effective { policy, settings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limit;
    use scim_sync::dynamic::{DynamicOverrides, Lookup, SettingSource, merge};

    #[test]
    fn engine_defaults_apply_unless_configured_and_dynamic_overrides_win() {
        let mut config = PolicyConfig {
            max_membership_removals: Limit::At(9),
            max_deactivation_percent: Limit::Unlimited,
            ..PolicyConfig::default()
        };
        config.sync_groups = Some(vec!["hpc".into()]);
        let lookup = Lookup::Found(DynamicOverrides {
            enable_group_sync: Some(false),
            max_deactivations: Some(3),
            ..DynamicOverrides::default()
        });
        let settings = merge(&static_settings(&config), &lookup);
        let p = policy(&config, &settings);
        assert_eq!(p.max_deactivations, Some(3));
        assert_eq!(settings.max_deactivations.source, SettingSource::Dynamic);
        assert!(!p.enable_group_sync);
        assert!(p.enable_user_sync);
        assert_eq!(settings.enable_user_sync.source, SettingSource::Static);
        assert_eq!(p.sync_groups, Some(vec!["hpc".to_owned()]));
        assert_eq!(p.max_membership_removals, Some(9));
        assert_eq!(p.max_deactivation_percent, None);
        assert_eq!(
            p.max_members_per_patch,
            Policy::default().max_members_per_patch
        );
        assert_eq!(p.external_id_prefix, Policy::default().external_id_prefix);
    }

    #[test]
    fn static_limit_defaults_to_the_engines() {
        let s = static_settings(&PolicyConfig::default());
        assert_eq!(
            s.max_deactivations.map(|n| n as usize),
            Policy::default().max_deactivations
        );
        let unlimited = PolicyConfig {
            max_deactivations: Limit::Unlimited,
            ..PolicyConfig::default()
        };
        assert_eq!(static_settings(&unlimited).max_deactivations, None);
    }
}
