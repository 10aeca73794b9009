//! Bearer token → `Principal`, shared by every transport (DESIGN.md §6).
use crate::domain::{Principal, Role};
use crate::error::{Error, Result};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    /// For `service` tokens: the roles above `agent` it may act for (`supervisor`,
    /// `admin`); without them it acts only for agents and customers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub act: Vec<String>,
}

/// Verifies tokens (HS256 secret, or an EdDSA/RS256 public key) and mints them (HS256).
#[derive(Clone)]
pub struct Authenticator {
    decoding: DecodingKey,
    validation: Validation,
    encoding: Option<EncodingKey>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

fn validation(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = 5;
    validation.set_required_spec_claims(&["exp", "sub"]);
    // A token whose `nbf` lies ahead is not valid yet.
    validation.validate_nbf = true;
    validation
}

/// Why a token was refused, in words of our own: the JWT library's messages name its parser's
/// internals, which tell a prober more than a caller needs.
fn refused(error: jsonwebtoken::errors::Error) -> Error {
    use jsonwebtoken::errors::ErrorKind;
    let why = match error.kind() {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not valid yet (nbf)",
        ErrorKind::InvalidSignature => "the signature does not verify",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "signed with an algorithm this server does not accept"
        }
        ErrorKind::MissingRequiredClaim(_) => "missing a required claim (sub, exp)",
        _ => "malformed",
    };
    Error::Unauthenticated(format!("invalid token: {why}"))
}

impl Authenticator {
    pub fn hs256(secret: &[u8]) -> Self {
        Authenticator {
            decoding: DecodingKey::from_secret(secret),
            validation: validation(Algorithm::HS256),
            encoding: Some(EncodingKey::from_secret(secret)),
        }
    }

    /// A PEM public key: Ed25519 (EdDSA) or RSA (RS256). Such a server verifies only.
    pub fn public_key(pem: &[u8]) -> Result<Self> {
        let (decoding, algorithm) = match DecodingKey::from_ed_pem(pem) {
            Ok(key) => (key, Algorithm::EdDSA),
            Err(_) => (
                DecodingKey::from_rsa_pem(pem).map_err(|e| {
                    Error::invalid(
                        "jwt_public_key",
                        format!("not an Ed25519 or RSA PEM key: {e}"),
                    )
                })?,
                Algorithm::RS256,
            ),
        };
        Ok(Authenticator {
            decoding,
            validation: validation(algorithm),
            encoding: None,
        })
    }

    /// Signs a token for `sub` with `role`, valid for `ttl` from `now` (unix seconds).
    pub fn mint(&self, sub: &str, role: Role, now: i64, ttl_seconds: i64) -> Result<String> {
        self.mint_acting(sub, role, &[], now, ttl_seconds)
    }

    /// `mint` for a service token that may also act for the agent roles in `act`
    /// (`Supervisor`, `Admin`).
    pub fn mint_acting(
        &self,
        sub: &str,
        role: Role,
        act: &[Role],
        now: i64,
        ttl_seconds: i64,
    ) -> Result<String> {
        if !act.is_empty() && role != Role::Service {
            return Err(Error::invalid("act", "only service tokens act for others"));
        }
        if let Some(other) = act
            .iter()
            .find(|r| !matches!(r, Role::Supervisor | Role::Admin))
        {
            return Err(Error::invalid(
                "act",
                format!("must list supervisor or admin, not {}", other.as_str()),
            ));
        }
        let key = self.encoding.as_ref().ok_or_else(|| {
            Error::FailedPrecondition("tokens can only be minted with an HS256 secret".into())
        })?;
        let claims = Claims {
            sub: sub.to_string(),
            role: role.as_str().to_string(),
            exp: now + ttl_seconds,
            iat: now,
            act: act.iter().map(|r| r.as_str().to_string()).collect(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .map_err(|e| Error::Internal(format!("token signing: {e}")))
    }

    /// Resolves the `authorization` value and the acting-for headers into a principal.
    /// Who holds a valid bearer token in `authorization` (`agent:ID`, `customer:ID`,
    /// `service:NAME`), for limits per credential; `None` for a missing or invalid token.
    pub fn credential(&self, authorization: Option<&str>) -> Option<String> {
        Some(match self.principal(authorization, None, None).ok()? {
            Principal::Agent { id, .. } => format!("agent:{id}"),
            Principal::Customer { id, .. } => format!("customer:{id}"),
            Principal::Service { name } => format!("service:{name}"),
        })
    }

    pub fn principal(
        &self,
        authorization: Option<&str>,
        agent_user_id: Option<&str>,
        customer_id: Option<&str>,
    ) -> Result<Principal> {
        let header = authorization
            .ok_or_else(|| Error::Unauthenticated("missing authorization bearer token".into()))?;
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                Error::Unauthenticated("authorization must be `bearer <token>`".into())
            })?;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(refused)?
            .claims;
        if claims.sub.is_empty() || claims.sub.len() > 128 {
            return Err(Error::Unauthenticated("invalid token: bad sub".into()));
        }
        let role = Role::parse(&claims.role)
            .ok_or_else(|| Error::Unauthenticated("invalid token: unknown role".into()))?;
        // Matched exactly as sent: ` admin@example.com` names no one, not the admin.
        let agent_user_id = agent_user_id.filter(|v| !v.is_empty());
        let customer_id = customer_id.filter(|v| !v.is_empty());
        if role != Role::Service {
            // Old clients send the acting-for header with every call, also on the agent's own
            // token: accepted when it names the token's subject, refused otherwise.
            let names_self = |id: Option<&str>| id.is_none_or(|id| id == claims.sub);
            let own = match role {
                Role::Customer => agent_user_id.is_none() && names_self(customer_id),
                _ => customer_id.is_none() && names_self(agent_user_id),
            };
            if !own {
                return Err(Error::PermissionDenied(
                    "only service tokens may act for another agent or a customer".into(),
                ));
            }
            return Ok(match role {
                Role::Customer => Principal::Customer {
                    id: claims.sub,
                    via: None,
                },
                _ => Principal::Agent {
                    id: claims.sub,
                    role,
                    via: None,
                },
            });
        }
        let acting = |field: &str, id: &str| -> Result<String> {
            if id.len() > 128 || id.chars().any(char::is_control) {
                return Err(Error::invalid(
                    field,
                    "must be at most 128 printable characters",
                ));
            }
            Ok(id.to_string())
        };
        Ok(match (agent_user_id, customer_id) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "x-agent-user-id",
                    "cannot be combined with x-customer-id",
                ));
            }
            // `role` is the highest agent role this token may act for.
            (Some(agent), None) => Principal::Agent {
                id: acting("x-agent-user-id", agent)?,
                role: if claims.act.iter().any(|r| r == "admin") {
                    Role::Admin
                } else if claims.act.iter().any(|r| r == "supervisor") {
                    Role::Supervisor
                } else {
                    Role::Agent
                },
                via: Some(claims.sub),
            },
            (None, Some(customer)) => Principal::Customer {
                id: acting("x-customer-id", customer)?,
                via: Some(claims.sub),
            },
            (None, None) => Principal::Service { name: claims.sub },
        })
    }
}
