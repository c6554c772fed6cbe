//! [`ApiKey`]: which API a request frame carries, with Kafka's api key numbers, and the
//! version range this codec speaks of each ([`ApiKey::versions`], [`SUPPORTED_APIS`]). A
//! broker's ApiVersions lists the entries of this table that it answers, which may be fewer.

use std::fmt;

/// An api key as carried on the wire. Known keys are associated constants; an unknown key is
/// still a valid header field, answered with UNSUPPORTED_VERSION.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiKey(pub u16);

impl ApiKey {
    pub const PRODUCE: ApiKey = ApiKey(0);
    pub const FETCH: ApiKey = ApiKey(1);
    pub const LIST_OFFSETS: ApiKey = ApiKey(2);
    pub const METADATA: ApiKey = ApiKey(3);
    pub const OFFSET_COMMIT: ApiKey = ApiKey(8);
    pub const OFFSET_FETCH: ApiKey = ApiKey(9);
    pub const JOIN_GROUP: ApiKey = ApiKey(11);
    pub const HEARTBEAT: ApiKey = ApiKey(12);
    pub const LEAVE_GROUP: ApiKey = ApiKey(13);
    pub const SYNC_GROUP: ApiKey = ApiKey(14);
    pub const DESCRIBE_GROUPS: ApiKey = ApiKey(15);
    pub const LIST_GROUPS: ApiKey = ApiKey(16);
    pub const SASL_HANDSHAKE: ApiKey = ApiKey(17);
    pub const API_VERSIONS: ApiKey = ApiKey(18);
    pub const CREATE_TOPICS: ApiKey = ApiKey(19);
    pub const DELETE_TOPICS: ApiKey = ApiKey(20);
    pub const INIT_PRODUCER_ID: ApiKey = ApiKey(22);
    pub const OFFSET_FOR_LEADER_EPOCH: ApiKey = ApiKey(23);
    pub const DESCRIBE_ACLS: ApiKey = ApiKey(29);
    pub const CREATE_ACLS: ApiKey = ApiKey(30);
    pub const DELETE_ACLS: ApiKey = ApiKey(31);
    pub const DESCRIBE_CONFIGS: ApiKey = ApiKey(32);
    pub const ALTER_CONFIGS: ApiKey = ApiKey(33);
    pub const SASL_AUTHENTICATE: ApiKey = ApiKey(36);
    pub const DELETE_GROUPS: ApiKey = ApiKey(42);
    pub const DESCRIBE_USER_SCRAM_CREDENTIALS: ApiKey = ApiKey(50);
    pub const ALTER_USER_SCRAM_CREDENTIALS: ApiKey = ApiKey(51);

    /// Kafka's name for the API, `None` for a key this build does not speak.
    pub fn name(self) -> Option<&'static str> {
        SUPPORTED_APIS
            .iter()
            .find(|api| api.api_key == self)
            .map(|api| api.name)
    }

    /// The versions of this API this build speaks, `None` for an unknown key.
    pub fn versions(self) -> Option<VersionRange> {
        SUPPORTED_APIS
            .iter()
            .find(|api| api.api_key == self)
            .map(|api| api.versions)
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "api key {}", self.0),
        }
    }
}

/// An inclusive range of versions of one API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VersionRange {
    pub min: u16,
    pub max: u16,
}

impl VersionRange {
    /// Whether `version` is in the range.
    pub fn contains(self, version: u16) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

/// One API this build speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupportedApi {
    pub api_key: ApiKey,
    pub name: &'static str,
    pub versions: VersionRange,
}

const V0: VersionRange = VersionRange { min: 0, max: 0 };

/// Every API this build speaks, in api key order. Version 0 of ApiVersions is supported
/// forever, so a client can always learn the rest.
pub const SUPPORTED_APIS: [SupportedApi; 27] = [
    api(ApiKey::PRODUCE, "Produce"),
    api(ApiKey::FETCH, "Fetch"),
    api(ApiKey::LIST_OFFSETS, "ListOffsets"),
    api(ApiKey::METADATA, "Metadata"),
    // v1: who commits (crate::api::offset_commit::MEMBER_FROM_VERSION).
    SupportedApi {
        versions: VersionRange { min: 0, max: 1 },
        ..api(ApiKey::OFFSET_COMMIT, "OffsetCommit")
    },
    api(ApiKey::OFFSET_FETCH, "OffsetFetch"),
    api(ApiKey::JOIN_GROUP, "JoinGroup"),
    api(ApiKey::HEARTBEAT, "Heartbeat"),
    api(ApiKey::LEAVE_GROUP, "LeaveGroup"),
    api(ApiKey::SYNC_GROUP, "SyncGroup"),
    api(ApiKey::DESCRIBE_GROUPS, "DescribeGroups"),
    api(ApiKey::LIST_GROUPS, "ListGroups"),
    api(ApiKey::SASL_HANDSHAKE, "SaslHandshake"),
    api(ApiKey::API_VERSIONS, "ApiVersions"),
    api(ApiKey::CREATE_TOPICS, "CreateTopics"),
    api(ApiKey::DELETE_TOPICS, "DeleteTopics"),
    api(ApiKey::INIT_PRODUCER_ID, "InitProducerId"),
    api(ApiKey::OFFSET_FOR_LEADER_EPOCH, "OffsetForLeaderEpoch"),
    api(ApiKey::DESCRIBE_ACLS, "DescribeAcls"),
    api(ApiKey::CREATE_ACLS, "CreateAcls"),
    api(ApiKey::DELETE_ACLS, "DeleteAcls"),
    api(ApiKey::DESCRIBE_CONFIGS, "DescribeConfigs"),
    api(ApiKey::ALTER_CONFIGS, "AlterConfigs"),
    api(ApiKey::SASL_AUTHENTICATE, "SaslAuthenticate"),
    api(ApiKey::DELETE_GROUPS, "DeleteGroups"),
    api(
        ApiKey::DESCRIBE_USER_SCRAM_CREDENTIALS,
        "DescribeUserScramCredentials",
    ),
    api(
        ApiKey::ALTER_USER_SCRAM_CREDENTIALS,
        "AlterUserScramCredentials",
    ),
];

// The check that SUPPORTED_APIS is in api key order (ApiVersions lists it as it is).
const _: () = {
    let mut i = 1;
    while i < SUPPORTED_APIS.len() {
        assert!(SUPPORTED_APIS[i - 1].api_key.0 < SUPPORTED_APIS[i].api_key.0);
        i += 1;
    }
};

const fn api(api_key: ApiKey, name: &'static str) -> SupportedApi {
    SupportedApi {
        api_key,
        name,
        versions: V0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kafkas_numbers() {
        let expected = [
            ("Produce", 0),
            ("Fetch", 1),
            ("ListOffsets", 2),
            ("Metadata", 3),
            ("OffsetCommit", 8),
            ("OffsetFetch", 9),
            ("JoinGroup", 11),
            ("Heartbeat", 12),
            ("LeaveGroup", 13),
            ("SyncGroup", 14),
            ("DescribeGroups", 15),
            ("ListGroups", 16),
            ("SaslHandshake", 17),
            ("ApiVersions", 18),
            ("CreateTopics", 19),
            ("DeleteTopics", 20),
            ("InitProducerId", 22),
            ("OffsetForLeaderEpoch", 23),
            ("DescribeAcls", 29),
            ("CreateAcls", 30),
            ("DeleteAcls", 31),
            ("DescribeConfigs", 32),
            ("AlterConfigs", 33),
            ("SaslAuthenticate", 36),
            ("DeleteGroups", 42),
            ("DescribeUserScramCredentials", 50),
            ("AlterUserScramCredentials", 51),
        ];
        assert_eq!(SUPPORTED_APIS.len(), expected.len());
        for (api, (name, key)) in SUPPORTED_APIS.iter().zip(expected) {
            assert_eq!(api.name, name);
            assert_eq!(api.api_key, ApiKey(key), "{name}");
        }
    }

    /// `net/PROTOCOL.md` lists every API with its key and versions.
    #[test]
    fn the_spec_lists_every_api() {
        let spec = include_str!("../../PROTOCOL.md");
        for api in SUPPORTED_APIS {
            let row = spec
                .lines()
                .find(|line| line.split('|').nth(1).map(str::trim) == Some(api.name))
                .unwrap_or_else(|| panic!("PROTOCOL.md has no row for {}", api.name));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            assert_eq!(cells[2], api.api_key.0.to_string(), "{}", api.name);
            let versions = if api.versions.min == api.versions.max {
                api.versions.min.to_string()
            } else {
                format!("{} to {}", api.versions.min, api.versions.max)
            };
            assert_eq!(cells[3], versions, "{}", api.name);
        }
    }

    #[test]
    fn unknown_keys_have_no_versions() {
        assert_eq!(ApiKey(4).versions(), None);
        assert_eq!(ApiKey(4).to_string(), "api key 4");
        assert_eq!(ApiKey::FETCH.to_string(), "Fetch");
        let v0 = ApiKey::API_VERSIONS.versions().unwrap();
        assert!(v0.contains(0));
        assert!(!v0.contains(1));
        let offset_commit = ApiKey::OFFSET_COMMIT.versions().unwrap();
        assert_eq!(offset_commit, VersionRange { min: 0, max: 1 });
    }
}
