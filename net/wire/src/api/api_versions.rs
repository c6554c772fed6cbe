//! ApiVersions (key 18): which APIs and versions the broker speaks. Version 0 is supported
//! forever, so a client can always ask.
//!
//! Request body: empty.
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field         | type           | notes                              |
//! |---------------|----------------|------------------------------------|
//! | api_keys      | array          | one entry per API, in api key order |
//! | . api_key     | u16            |                                    |
//! | . min_version | u16            |                                    |
//! | . max_version | u16            | at least min_version               |

use crate::api_key::{ApiKey, SUPPORTED_APIS, VersionRange};
use crate::error::WireError;
use crate::primitives::{Reader, Wire, Writer};

/// What versions the broker speaks. No fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiVersionsRequest;

impl Wire for ApiVersionsRequest {
    const MIN_LEN: usize = 0;

    fn encode(&self, _: &mut Writer) -> Result<(), WireError> {
        Ok(())
    }

    fn decode(_: &mut Reader) -> Result<Self, WireError> {
        Ok(ApiVersionsRequest)
    }
}

/// The APIs the broker speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiVersionsResponse {
    pub api_keys: Vec<ApiVersions>,
}

impl ApiVersionsResponse {
    /// Every entry of [`SUPPORTED_APIS`]: what this codec can encode and decode. A broker
    /// advertises only the APIs it answers (ringlog's broker: `handlers::api_versions`), which
    /// may be fewer.
    pub fn supported() -> ApiVersionsResponse {
        ApiVersionsResponse {
            api_keys: SUPPORTED_APIS
                .iter()
                .map(|api| ApiVersions {
                    api_key: api.api_key,
                    versions: api.versions,
                })
                .collect(),
        }
    }
}

/// One API the broker speaks. The key may be one this build does not know (a newer broker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiVersions {
    pub api_key: ApiKey,
    pub versions: VersionRange,
}

impl Wire for ApiVersionsResponse {
    const MIN_LEN: usize = 4;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("api_keys", &self.api_keys)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ApiVersionsResponse {
            api_keys: r.array("api_keys")?,
        })
    }
}

impl Wire for ApiVersions {
    const MIN_LEN: usize = 6;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        // Refuse on the way out what the decoder refuses on the way in.
        check_range(self.versions)?;
        w.u16(self.api_key.0);
        w.u16(self.versions.min);
        w.u16(self.versions.max);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        let api_key = ApiKey(r.u16("api_key")?);
        let min = r.u16("min_version")?;
        let max = r.u16("max_version")?;
        let versions = VersionRange { min, max };
        check_range(versions)?;
        Ok(ApiVersions { api_key, versions })
    }
}

fn check_range(versions: VersionRange) -> Result<(), WireError> {
    if versions.max < versions.min {
        return Err(WireError::InvalidValue {
            field: "max_version",
            value: i64::from(versions.max),
            expected: "a version of at least min_version",
        });
    }
    Ok(())
}
