//! AccessRole / AccessRoleBinding / static configuration from documents (R2.1, A7, A14, A17):
//! the checks the compile step relies on, in the core (the bindings only convert values).

use super::coverage::Qualifier;
use super::document::{
    list, map, match_of, opt_string, string_list, target_ref, wrapped_ref, Node, Path,
};
use super::error::InputError;
use super::identity::Subjects;
use super::policy_set::{Binding, Role};
use super::rule::{Access, Rule};
use super::static_mode::StaticConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QFamily {
    TargetRef,
    Connection,
    Dataplane,
    DpToken,
}

fn opt<N: Node, T>(
    n: &N,
    path: &Path<'_>,
    key: &'static str,
    f: fn(&N, &Path<'_>) -> Result<T, InputError>,
) -> Result<Option<T>, InputError> {
    n.get(key)?.map(|x| f(&x, &path.key(key))).transpose()
}

/// One `when[]` item (R2.1: unknown key, empty or mixed-family qualifiers are errors, A7).
pub fn qualifier<N: Node>(n: &N, path: &Path<'_>) -> Result<Qualifier, InputError> {
    map(n, path)?;
    let empty = || InputError::EmptyQualifier {
        path: path.render(),
    };
    let mut fam: Option<QFamily> = None;
    let entries = n.entries()?;
    if entries.is_empty() {
        return Err(empty());
    }
    for (key, _) in &entries {
        let f = match key.as_str() {
            "targetRef" | "to" | "from" => QFamily::TargetRef,
            "sources" | "destinations" => QFamily::Connection,
            "selectors" => QFamily::Dataplane,
            "dpToken" => QFamily::DpToken,
            _ => {
                return Err(InputError::UnknownQualifierKey {
                    path: path.render(),
                    key: key.clone(),
                })
            }
        };
        if fam.is_some_and(|x| x != f) {
            return Err(InputError::MixedFamilies {
                path: path.render(),
            });
        }
        fam = Some(f);
    }
    match fam {
        Some(QFamily::TargetRef) => Qualifier::target_ref(
            opt(n, path, "targetRef", target_ref)?,
            opt(n, path, "to", wrapped_ref)?,
            opt(n, path, "from", wrapped_ref)?,
        )
        .map_err(|_| empty()),
        Some(QFamily::Connection) => Qualifier::connection(
            opt(n, path, "sources", match_of)?,
            opt(n, path, "destinations", match_of)?,
        )
        .map_err(|_| empty()),
        Some(QFamily::Dataplane) => Ok(Qualifier::Dataplane {
            selectors: opt(n, path, "selectors", match_of)?.unwrap_or_default(),
        }),
        Some(QFamily::DpToken) => {
            let mut tags = Vec::new();
            if let Some(dp) = n.get("dpToken")? {
                let p = path.key("dpToken");
                map(&dp, &p)?;
                let tp = p.key("tags");
                for (i, t) in list(&dp, "tags", &p)?.iter().enumerate() {
                    let ti = tp.index(i);
                    map(t, &ti)?;
                    let name = opt_string(t, "name", &ti)?
                        .filter(|x| !x.is_empty())
                        .ok_or_else(|| InputError::Missing {
                            path: ti.key("name").render(),
                        })?;
                    tags.push((name, opt_string(t, "value", &ti)?.unwrap_or_default()));
                }
            }
            Ok(Qualifier::dp_token(tags))
        }
        None => Err(empty()),
    }
}

fn rule<N: Node>(n: &N, path: &Path<'_>) -> Result<Rule, InputError> {
    map(n, path)?;
    let mut access = Vec::new();
    let ap = path.key("access");
    for (i, a) in string_list(n, "access", path)?.into_iter().enumerate() {
        access.push(Access::parse(&a).ok_or_else(|| InputError::UnknownAccess {
            path: ap.index(i).render(),
            value: a,
        })?);
    }
    let wp = path.key("when");
    let when = list(n, "when", path)?
        .iter()
        .enumerate()
        .map(|(i, q)| qualifier(q, &wp.index(i)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule::new(
        string_list(n, "types", path)?,
        string_list(n, "names", path)?,
        opt_string(n, "mesh", path)?,
        &access,
        when,
    ))
}

fn name_of<N: Node>(n: &N) -> Result<String, InputError> {
    map(n, &Path::Root)?;
    opt_string(n, "name", &Path::Root)?.ok_or(InputError::Missing {
        path: "name".into(),
    })
}

/// An AccessRole `{name, rules}` (Universal shape; the Python side passes `{name, rules}`).
pub fn role<N: Node>(n: &N) -> Result<Role, InputError> {
    let name = name_of(n)?;
    let prefix = format!("AccessRole {name:?}");
    let base = Path::Text(&prefix);
    let rp = base.key("rules");
    let rules = list(n, "rules", &base)?
        .iter()
        .enumerate()
        .map(|(i, r)| rule(r, &rp.index(i)))
        .collect::<Result<_, _>>()?;
    Ok(Role { name, rules })
}

/// An AccessRoleBinding `{name, subjects, roles}`.
pub fn binding<N: Node>(n: &N) -> Result<Binding, InputError> {
    let name = name_of(n)?;
    let prefix = format!("AccessRoleBinding {name:?}");
    let base = Path::Text(&prefix);
    let sp = base.key("subjects");
    let mut subjects = Subjects::default();
    for (i, s) in list(n, "subjects", &base)?.iter().enumerate() {
        let path = sp.index(i);
        map(s, &path)?;
        let kind = opt_string(s, "type", &path)?.unwrap_or_default();
        let sname = opt_string(s, "name", &path)?.unwrap_or_default();
        if sname.is_empty() {
            return Err(InputError::EmptySubjectName {
                path: path.render(),
            });
        }
        match kind.as_str() {
            "User" => subjects.users.push(sname),
            "Group" => subjects.groups.push(sname),
            _ => {
                return Err(InputError::SubjectType {
                    path: path.render(),
                    value: kind,
                })
            }
        }
    }
    Ok(Binding {
        name,
        subjects,
        roles: string_list(n, "roles", &base)?,
    })
}

const STATIC_KEYS: [&str; 6] = [
    "adminResources",
    "generateDpToken",
    "generateUserToken",
    "generateZoneToken",
    "generateCpToken",
    "viewEnvoy",
];

/// §7 static lists: `{adminResources: {users, groups}, ...}` over the defaults.
pub fn static_config<N: Node>(n: Option<&N>) -> Result<StaticConfig, InputError> {
    let mut c = StaticConfig::default();
    let Some(n) = n else { return Ok(c) };
    let base = Path::Text("static_config");
    map(n, &base)?;
    for (k, _) in n.entries()? {
        if !STATIC_KEYS.contains(&k.as_str()) {
            return Err(InputError::UnknownOption {
                what: "static access option",
                value: k,
            });
        }
    }
    let subjects = |key: &'static str, default: &Subjects| -> Result<Subjects, InputError> {
        match n.get(key)? {
            None => Ok(default.clone()),
            Some(v) => {
                let p = base.key(key);
                map(&v, &p)?;
                Ok(Subjects {
                    users: string_list(&v, "users", &p)?,
                    groups: string_list(&v, "groups", &p)?,
                })
            }
        }
    };
    c.admin_resources = subjects("adminResources", &c.admin_resources)?;
    c.generate_dp_token = subjects("generateDpToken", &c.generate_dp_token)?;
    c.generate_user_token = subjects("generateUserToken", &c.generate_user_token)?;
    c.generate_zone_token = subjects("generateZoneToken", &c.generate_zone_token)?;
    c.generate_cp_token = subjects("generateCpToken", &c.generate_cp_token)?;
    c.view_envoy = subjects("viewEnvoy", &c.view_envoy)?;
    Ok(c)
}
