//! New-Object: the objects admins build in scripts (a PSObject from a
//! hashtable, a PSCredential for -Credential parameters).

use super::{args, bad, usage};
use crate::lang::Command;
use crate::shell::{R, Shell, display_in_string};
use xshell_cmdlets::Value;
use xshell_cmdlets::value::{Object, View};

/// The type of a credential (`New-Object PSCredential(user, password)`).
pub const CREDENTIAL: &str = "System.Management.Automation.PSCredential";

pub(super) fn new_object(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let mut positional = a.values();
    let type_name = match a.get("TypeName").or_else(|| positional.next()) {
        Some(t) => display_in_string(t),
        None => return Err(usage(c, "missing -TypeName: the type to create".into())),
    };
    let arguments: Vec<Value> = match a.get("ArgumentList").or_else(|| positional.next()) {
        Some(Value::List(items)) => items.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(one) => vec![one.clone()],
    };
    let lower = type_name.to_ascii_lowercase();
    let short = lower.strip_prefix("system.").unwrap_or(&lower);
    match short {
        "management.automation.psobject"
        | "psobject"
        | "management.automation.pscustomobject"
        | "pscustomobject"
        | "object" => {
            let mut o = Object::new("PSCustomObject", View::List);
            match a.get("Property") {
                Some(Value::Map(entries)) => {
                    let columns: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
                    o.view = View::Columns(columns);
                    for (k, v) in entries {
                        o.set(k, v.clone());
                    }
                }
                Some(other) => {
                    return Err(bad(
                        c,
                        "Property",
                        format!("'{other}' is not a hashtable (@{{Name = value}})"),
                    ));
                }
                None => {}
            }
            Ok(vec![Value::Object(o)])
        }
        "management.automation.pscredential" | "pscredential" => match arguments.as_slice() {
            [user, password] => {
                let password = match password {
                    Value::Secret(s) => s.clone(),
                    _ => {
                        return Err(bad(
                            c,
                            "ArgumentList",
                            "the password must be a secure string: (ConvertTo-SecureString -String '...' -AsPlainText -Force)",
                        ));
                    }
                };
                Ok(vec![Value::Object(
                    Object::new(CREDENTIAL, View::Table(&["UserName", "Password"]))
                        .with("UserName", Value::Str(display_in_string(user)))
                        .with("Password", Value::Secret(password)),
                )])
            }
            _ => Err(bad(
                c,
                "ArgumentList",
                "a PSCredential takes two arguments: the user name and a secure string",
            )),
        },
        "collections.hashtable" | "hashtable" => Ok(vec![Value::Map(Vec::new())]),
        _ => Err(bad(
            c,
            "TypeName",
            format!(
                "'{type_name}' is not a type xshell creates (PSObject with -Property, PSCredential, Hashtable)"
            ),
        )),
    }
}
