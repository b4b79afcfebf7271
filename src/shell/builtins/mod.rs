//! Built-in commands of the shell language: the table of builtins and the
//! argument parser they share. One file per family: filtering
//! ([`filter`]), selecting ([`select`]), formatting ([`format`]), files and
//! conversions ([`files`]), help ([`help`]) and output ([`write`]).

mod csv;
mod files;
mod filter;
mod format;
mod group;
mod help;
mod inspect;
mod json;
mod measure;
mod objects;
mod props;
mod secure;
mod select;
mod sort;
mod text;
mod write;

#[cfg(test)]
mod tests;

use super::{R, RuntimeError, Shell};
use crate::lang::{Arg as AstArg, Command, Expr, ExprKind, PipelineElement, Script};
use csv::{convert_from_csv, convert_to_csv, export_csv, import_csv};
use files::{add_content, get_content, out_file, set_content, tee_object};
use filter::{foreach_object, where_object};
use format::{format_list, format_table};
use group::group_object;
use help::{get_command, get_help};
use inspect::get_member;
use json::{convert_from_json, convert_to_json};
use measure::measure_object;
use objects::new_object;
use secure::convert_to_secure_string;
use select::{get_unique, select_object};
use sort::sort_object;
use text::select_string;
use write::{
    out_host, out_null, out_string, write_error, write_host, write_output, write_verbose,
    write_warning,
};
use xshell_cmdlets::{CmdletError, Value};

pub type Builtin = fn(&mut Shell<'_>, &Command, Option<Vec<Value>>) -> R<Vec<Value>>;

/// One builtin's declaration: what Get-Help, Get-Command and the argument
/// parser know of it.
pub struct Spec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub synopsis: &'static str,
    /// Parameters that take a value.
    pub params: &'static [&'static str],
    /// Switch parameters (`-Name` or `-Name:$false`).
    pub switches: &'static [&'static str],
    /// Shown by Get-Help -Examples and run by the tests (after the
    /// setup in [`EXAMPLE_SETUP`]).
    pub examples: &'static [Example],
    pub run: Builtin,
}

/// A documented example: a command and exactly what it prints.
pub struct Example {
    pub command: &'static str,
    pub output: &'static str,
    /// Reads or writes files: shown, but its output is not checked.
    pub files: bool,
}

/// What the examples assume: two send connectors, Outbound (port 25) and
/// Partner (port 2525, contoso.com).
pub const EXAMPLE_SETUP: &str = "New-SendConnector Outbound -AddressSpaces * | Out-Null\nNew-SendConnector Partner -AddressSpaces contoso.com -Port 2525 | Out-Null";

/// The common parameters every builtin accepts; the statement runner acts
/// on -ErrorAction, the others are accepted (Write-Verbose reads -Verbose).
const COMMON_PARAMS: &[&str] = &[
    "ErrorAction",
    "ErrorVariable",
    "WarningAction",
    "WarningVariable",
    "InformationAction",
    "InformationVariable",
    "OutVariable",
    "OutBuffer",
    "PipelineVariable",
];
const COMMON_SWITCHES: &[&str] = &["Verbose", "Debug"];
/// PowerShell's aliases of the common parameters.
const COMMON_ALIASES: &[(&str, &str)] = &[
    ("EA", "ErrorAction"),
    ("EV", "ErrorVariable"),
    ("WA", "WarningAction"),
    ("WV", "WarningVariable"),
    ("IA", "InformationAction"),
    ("IV", "InformationVariable"),
    ("OV", "OutVariable"),
    ("OB", "OutBuffer"),
    ("PV", "PipelineVariable"),
    ("vb", "Verbose"),
    ("db", "Debug"),
];

pub static BUILTINS: &[Spec] = &[
    Spec {
        name: "Where-Object",
        aliases: &["where", "?"],
        synopsis: "Keep the pipeline objects that match: Where-Object { $_.Status -eq \"Valid\" }, ? Status -eq Valid, ? Enabled",
        params: &["FilterScript", "Property", "Value", "InputObject"],
        switches: filter::WHERE_OPERATORS,
        examples: &[
            Example {
                command: "Get-SendConnector | Where-Object Port -gt 25 | ForEach-Object Name",
                output: "Partner\n",
                files: false,
            },
            Example {
                command: "Get-SendConnector | ? { $_.Name -like 'Out*' } | % Port",
                output: "25\n",
                files: false,
            },
        ],
        run: where_object,
    },
    Spec {
        name: "ForEach-Object",
        aliases: &["foreach", "%"],
        synopsis: "Run a script block for each pipeline object ($_), or get a property or call a method: % Name",
        params: &[
            "Process",
            "Begin",
            "End",
            "MemberName",
            "ArgumentList",
            "InputObject",
        ],
        switches: &[],
        examples: &[
            Example {
                command: "1,2,3 | ForEach-Object -Begin { 'start' } -Process { $_ * 2 } -End { 'end' }",
                output: "start\n2\n4\n6\nend\n",
                files: false,
            },
            Example {
                command: "'mail','smtp' | % ToUpper",
                output: "MAIL\nSMTP\n",
                files: false,
            },
        ],
        run: foreach_object,
    },
    Spec {
        name: "Select-Object",
        aliases: &["select"],
        synopsis: "Pick properties (wildcards, @{n='X';e={...}}), -First/-Last/-Skip/-Index, -Unique, or -ExpandProperty X",
        params: &[
            "Property",
            "ExcludeProperty",
            "ExpandProperty",
            "First",
            "Last",
            "Skip",
            "SkipLast",
            "Index",
            "InputObject",
        ],
        switches: &["Unique", "CaseInsensitive"],
        examples: &[
            Example {
                command: "Get-SendConnector | Select-Object Name, @{n='TlsPort';e={$_.Port + 562}}",
                output: "\nName     TlsPort\n-------- -------\nOutbound     587\nPartner     3087\n\n",
                files: false,
            },
            Example {
                command: "1,2,3,4,5 | Select-Object -Skip 1 -First 2",
                output: "2\n3\n",
                files: false,
            },
            Example {
                command: "Get-SendConnector Partner | Select-Object -ExpandProperty AddressSpaces",
                output: "SMTP:contoso.com;1\n",
                files: false,
            },
        ],
        run: select_object,
    },
    Spec {
        name: "Get-Unique",
        aliases: &["gu"],
        synopsis: "Drop each item equal to the one before it in a sorted list (-AsString, -OnType, -CaseInsensitive)",
        params: &["InputObject"],
        switches: &["AsString", "OnType", "CaseInsensitive"],
        examples: &[Example {
            command: "1,1,12,23,4,5,3,3 | Sort-Object | Get-Unique",
            output: "1\n3\n4\n5\n12\n23\n",
            files: false,
        }],
        run: get_unique,
    },
    Spec {
        name: "Sort-Object",
        aliases: &["sort"],
        synopsis: "Sort by properties (several, calculated), -Descending, -Unique, -CaseSensitive, -Top/-Bottom N",
        params: &["Property", "Top", "Bottom", "InputObject", "Culture"],
        switches: &["Descending", "Unique", "CaseSensitive", "Stable"],
        examples: &[
            Example {
                command: "Get-SendConnector | Sort-Object Port -Descending | % Name",
                output: "Partner\nOutbound\n",
                files: false,
            },
            Example {
                command: "'b','a','C' | sort",
                output: "a\nb\nC\n",
                files: false,
            },
        ],
        run: sort_object,
    },
    Spec {
        name: "Group-Object",
        aliases: &["group"],
        synopsis: "Group objects by property values: Count, Name, Group (-NoElement, -AsHashTable)",
        params: &["Property", "InputObject"],
        switches: &["NoElement", "AsHashTable", "AsString", "CaseSensitive"],
        examples: &[
            Example {
                command: "'Valid','Expired','Valid' | Group-Object",
                output: "\nCount Name    Group\n----- ------- --------------\n    1 Expired {Expired}\n    2 Valid   {Valid, Valid}\n\n",
                files: false,
            },
            Example {
                command: "Get-SendConnector | group Enabled -NoElement",
                output: "\nCount Name\n----- ----\n    2 True\n\n",
                files: false,
            },
        ],
        run: group_object,
    },
    Spec {
        name: "Measure-Object",
        aliases: &["measure"],
        synopsis: "Count objects; -Sum -Average -Maximum -Minimum of -Property; -Line -Word -Character of text",
        params: &["Property", "InputObject"],
        switches: &[
            "Sum",
            "Average",
            "Maximum",
            "Minimum",
            "StandardDeviation",
            "AllStats",
            "Line",
            "Word",
            "Character",
            "IgnoreWhiteSpace",
        ],
        examples: &[
            Example {
                command: "1,2,3,4 | Measure-Object -Sum -Average -Maximum -Minimum",
                output: "\nCount             : 4\nAverage           : 2.5\nSum               : 10\nMaximum           : 4\nMinimum           : 1\nStandardDeviation : \nProperty          : \n\n",
                files: false,
            },
            Example {
                command: "'one two','three' | measure -Line -Word -Character",
                output: "\nLines Words Characters Property\n----- ----- ---------- --------\n    2     3         12\n\n",
                files: false,
            },
        ],
        run: measure_object,
    },
    Spec {
        name: "Format-List",
        aliases: &["fl"],
        synopsis: "Show objects as Name : Value lines (Format-List [props|TLS*|*|@{n='X';e={...}}])",
        params: &["Property", "GroupBy", "InputObject"],
        switches: &["Force"],
        examples: &[
            Example {
                command: "Get-TransportConfig | Format-List TLS*DomainSecureList",
                output: "\nTLSReceiveDomainSecureList : {}\nTLSSendDomainSecureList    : {}\n\n",
                files: false,
            },
            Example {
                command: "Get-SendConnector Partner | fl Name, @{n='Tls';e={$_.Port -eq 587}}",
                output: "\nName : Partner\nTls  : False\n\n",
                files: false,
            },
        ],
        run: format_list,
    },
    Spec {
        name: "Format-Table",
        aliases: &["ft"],
        synopsis: "Show objects as a table of the given properties (wildcards, calculated), -Wrap, -HideTableHeaders",
        params: &["Property", "GroupBy", "InputObject"],
        switches: &["AutoSize", "Wrap", "HideTableHeaders", "Force"],
        examples: &[
            Example {
                command: "Get-SendConnector | Format-Table Name, Port",
                output: "\nName     Port\n-------- ----\nOutbound   25\nPartner  2525\n\n",
                files: false,
            },
            Example {
                command: "Get-SendConnector | ft Name, Port -HideTableHeaders",
                output: "\nOutbound   25\nPartner  2525\n\n",
                files: false,
            },
        ],
        run: format_table,
    },
    Spec {
        name: "Get-Member",
        aliases: &["gm"],
        synopsis: "Show the type and the properties and methods of the pipeline's objects",
        params: &["Name", "MemberType", "InputObject"],
        switches: &["Force", "Static"],
        examples: &[Example {
            command: "'abc' | Get-Member -MemberType Property",
            output: "\n   TypeName: System.String\n\nName   MemberType Definition\n------ ---------- -----------------\nLength Property   int Length {get;}\n\n",
            files: false,
        }],
        run: get_member,
    },
    Spec {
        name: "Get-Content",
        aliases: &["gc", "cat", "type"],
        synopsis: "Read a file's lines (-Raw: one text; -Encoding Byte/-AsByteStream -ReadCount 0: its bytes)",
        params: &[
            "Path",
            "LiteralPath",
            "TotalCount",
            "Head",
            "First",
            "Tail",
            "Last",
            "Encoding",
            "ReadCount",
        ],
        switches: &["Raw", "AsByteStream", "Force"],
        examples: &[
            Example {
                command: "Get-Content users.txt -TotalCount 2",
                output: "",
                files: true,
            },
            Example {
                command: "[Byte[]](Get-Content -Path cert.pfx -Encoding Byte -ReadCount 0)",
                output: "",
                files: true,
            },
        ],
        run: get_content,
    },
    Spec {
        name: "Set-Content",
        aliases: &[],
        synopsis: "Write values to a file, one line each (UTF-8 without BOM; -Encoding, -NoNewline, -AsByteStream)",
        params: &["Path", "LiteralPath", "Value", "Encoding"],
        switches: &["NoNewline", "PassThru", "Force", "AsByteStream"],
        examples: &[Example {
            command: "Get-SendConnector | % Name | Set-Content connectors.txt",
            output: "",
            files: true,
        }],
        run: set_content,
    },
    Spec {
        name: "Add-Content",
        aliases: &["ac"],
        synopsis: "Append values to a file, one line each",
        params: &["Path", "LiteralPath", "Value", "Encoding"],
        switches: &["NoNewline", "PassThru", "Force", "AsByteStream"],
        examples: &[Example {
            command: "Add-Content connectors.txt 'Partner2'",
            output: "",
            files: true,
        }],
        run: add_content,
    },
    Spec {
        name: "Out-File",
        aliases: &[],
        synopsis: "Write the pipeline's output to a file as the console shows it (-Append, -NoClobber, -Encoding)",
        params: &[
            "FilePath",
            "Path",
            "LiteralPath",
            "Encoding",
            "Width",
            "InputObject",
        ],
        switches: &["Append", "NoClobber", "Force", "NoNewline"],
        examples: &[Example {
            command: "Get-SendConnector | ft Name, Port | Out-File connectors.txt",
            output: "",
            files: true,
        }],
        run: out_file,
    },
    Spec {
        name: "Tee-Object",
        aliases: &["tee"],
        synopsis: "Save the pipeline's output to a file or variable and pass it on",
        params: &["FilePath", "Path", "LiteralPath", "Variable", "InputObject"],
        switches: &["Append"],
        examples: &[Example {
            command: "Get-SendConnector | Tee-Object -Variable all | Measure-Object | % Count",
            output: "2\n",
            files: false,
        }],
        run: tee_object,
    },
    Spec {
        name: "Export-Csv",
        aliases: &["epcsv"],
        synopsis: "Write objects to a CSV file (every field quoted; -Append, -Delimiter, -NoTypeInformation)",
        params: &[
            "Path",
            "LiteralPath",
            "Delimiter",
            "Encoding",
            "UseQuotes",
            "InputObject",
        ],
        switches: &[
            "NoTypeInformation",
            "IncludeTypeInformation",
            "Append",
            "Force",
            "NoClobber",
            "PassThru",
        ],
        examples: &[Example {
            command: "Get-SendConnector | Select-Object Name, Port | Export-Csv connectors.csv",
            output: "",
            files: true,
        }],
        run: export_csv,
    },
    Spec {
        name: "Import-Csv",
        aliases: &["ipcsv"],
        synopsis: "Read a CSV file as objects, one per row (-Delimiter, -Header)",
        params: &["Path", "LiteralPath", "Delimiter", "Header", "Encoding"],
        switches: &[],
        examples: &[Example {
            command: "Import-Csv connectors.csv | ? Port -eq 2525 | % Name",
            output: "",
            files: true,
        }],
        run: import_csv,
    },
    Spec {
        name: "ConvertTo-Csv",
        aliases: &[],
        synopsis: "Convert objects to CSV lines",
        params: &["Delimiter", "UseQuotes", "InputObject"],
        switches: &["NoTypeInformation", "IncludeTypeInformation", "NoHeader"],
        examples: &[Example {
            command: "Get-SendConnector | Select-Object Name, Port | ConvertTo-Csv",
            output: "\"Name\",\"Port\"\n\"Outbound\",\"25\"\n\"Partner\",\"2525\"\n",
            files: false,
        }],
        run: convert_to_csv,
    },
    Spec {
        name: "ConvertFrom-Csv",
        aliases: &[],
        synopsis: "Convert CSV lines to objects",
        params: &["Delimiter", "Header", "InputObject"],
        switches: &[],
        examples: &[Example {
            command: "'Name,Port','Outbound,25' | ConvertFrom-Csv | % Port",
            output: "25\n",
            files: false,
        }],
        run: convert_from_csv,
    },
    Spec {
        name: "ConvertTo-Json",
        aliases: &[],
        synopsis: "Convert pipeline objects to JSON text (-Depth, default 2; -Compress; -AsArray)",
        params: &["Depth", "InputObject"],
        switches: &["Compress", "AsArray", "EnumsAsStrings"],
        examples: &[Example {
            command: "Get-SendConnector Partner | Select-Object Name, Port | ConvertTo-Json -Compress",
            output: "{\"Name\":\"Partner\",\"Port\":2525}\n",
            files: false,
        }],
        run: convert_to_json,
    },
    Spec {
        name: "ConvertFrom-Json",
        aliases: &[],
        synopsis: "Convert JSON text to objects (nested objects and arrays; -AsHashtable)",
        params: &["InputObject", "Depth"],
        switches: &["AsHashtable", "NoEnumerate"],
        examples: &[Example {
            command: "'{\"Name\":\"Outbound\",\"Spaces\":[\"x.tld\"]}' | ConvertFrom-Json | % Spaces",
            output: "x.tld\n",
            files: false,
        }],
        run: convert_from_json,
    },
    Spec {
        name: "Select-String",
        aliases: &["sls"],
        synopsis: "Find lines matching a pattern in text or files (-SimpleMatch, -CaseSensitive, -NotMatch, -Quiet)",
        params: &["Pattern", "Path", "LiteralPath", "InputObject"],
        switches: &["SimpleMatch", "CaseSensitive", "NotMatch", "Quiet", "List"],
        examples: &[Example {
            command: "'mail.contoso.com','smtp.fabrikam.com' | Select-String contoso",
            output: "mail.contoso.com\n",
            files: false,
        }],
        run: select_string,
    },
    Spec {
        name: "Get-Help",
        aliases: &["help"],
        synopsis: "Show a cmdlet's help: Get-Help <cmdlet> [-Examples|-Full]",
        params: &["Name"],
        switches: &["Examples", "Full", "Detailed"],
        examples: &[],
        run: get_help,
    },
    Spec {
        name: "Get-Command",
        aliases: &["gcm"],
        synopsis: "List cmdlets (optionally matching a wildcard)",
        params: &["Name"],
        switches: &[],
        examples: &[Example {
            command: "Get-Command Sort-Object | % CommandType",
            output: "Builtin\n",
            files: false,
        }],
        run: get_command,
    },
    Spec {
        name: "Write-Output",
        aliases: &["echo", "write"],
        synopsis: "Write values to the pipeline",
        params: &["InputObject"],
        switches: &["NoEnumerate"],
        examples: &[Example {
            command: "Write-Output 'a','b'",
            output: "a\nb\n",
            files: false,
        }],
        run: write_output,
    },
    Spec {
        name: "Write-Host",
        aliases: &[],
        synopsis: "Write text to the terminal, never to the pipeline (-NoNewline, -Separator, -ForegroundColor)",
        params: &["Object", "Separator", "ForegroundColor", "BackgroundColor"],
        switches: &["NoNewline"],
        examples: &[Example {
            command: "Write-Host 'Certificates:' 3 -Separator ' '",
            output: "Certificates: 3\n",
            files: false,
        }],
        run: write_host,
    },
    Spec {
        name: "Write-Warning",
        aliases: &[],
        synopsis: "Write a warning (WARNING: message) to the error stream",
        params: &["Message"],
        switches: &[],
        examples: &[Example {
            command: "Write-Warning 'the queue is growing'",
            output: "",
            files: false,
        }],
        run: write_warning,
    },
    Spec {
        name: "Write-Error",
        aliases: &[],
        synopsis: "Report an error; the script stops unless -ErrorAction says to continue",
        params: &[
            "Message",
            "Category",
            "ErrorId",
            "TargetObject",
            "RecommendedAction",
        ],
        switches: &[],
        examples: &[Example {
            command: "Write-Error 'no such connector' -ErrorAction SilentlyContinue",
            output: "",
            files: false,
        }],
        run: write_error,
    },
    Spec {
        name: "Write-Verbose",
        aliases: &[],
        synopsis: "Write a VERBOSE: message, shown only with -Verbose or $VerbosePreference = 'Continue'",
        params: &["Message"],
        switches: &[],
        examples: &[Example {
            command: "Write-Verbose 'shown only with -Verbose'",
            output: "",
            files: false,
        }],
        run: write_verbose,
    },
    Spec {
        name: "Out-Null",
        aliases: &[],
        synopsis: "Discard the pipeline's output",
        params: &["InputObject"],
        switches: &[],
        examples: &[Example {
            command: "Get-SendConnector | Out-Null",
            output: "",
            files: false,
        }],
        run: out_null,
    },
    Spec {
        name: "Out-Host",
        aliases: &["oh"],
        synopsis: "Show the pipeline's output on the terminal now",
        params: &["InputObject"],
        switches: &["Paging"],
        examples: &[Example {
            command: "'a' | Out-Host",
            output: "a\n",
            files: false,
        }],
        run: out_host,
    },
    Spec {
        name: "Out-String",
        aliases: &[],
        synopsis: "Turn the pipeline's output into the text the console would show (-Stream: one line each)",
        params: &["InputObject", "Width"],
        switches: &["Stream"],
        examples: &[Example {
            command: "1,2 | Out-String -Stream | Measure-Object | % Count",
            output: "2\n",
            files: false,
        }],
        run: out_string,
    },
    Spec {
        name: "New-Object",
        aliases: &[],
        synopsis: "A PSObject from a hashtable (-Property), a PSCredential (user, secure string), or a Hashtable",
        params: &["TypeName", "ArgumentList", "Property"],
        switches: &[],
        examples: &[Example {
            command: "(New-Object PSObject -Property @{Name = 'Outbound'; Port = 25}).Port",
            output: "25\n",
            files: false,
        }],
        run: new_object,
    },
    Spec {
        name: "ConvertTo-SecureString",
        aliases: &[],
        synopsis: "A password for -Password parameters: ConvertTo-SecureString -String 'x' -AsPlainText -Force (shown as System.Security.SecureString)",
        params: &["String", "SecureKey", "Key"],
        switches: &["AsPlainText", "Force"],
        examples: &[Example {
            command: "ConvertTo-SecureString -String 'P@ssw0rd' -AsPlainText -Force",
            output: "System.Security.SecureString\n",
            files: false,
        }],
        run: convert_to_secure_string,
    },
    Spec {
        name: "Get-Date",
        aliases: &[],
        synopsis: "The current date and time (UTC), or -Date as a date; -Format/-UFormat give text",
        params: &[
            "Date",
            "Format",
            "UFormat",
            "Year",
            "Month",
            "Day",
            "Hour",
            "Minute",
            "Second",
            "Millisecond",
        ],
        switches: &[],
        examples: &[Example {
            command: "(Get-Date -Date '2026-03-13 09:00:00').AddDays(30).ToString('yyyy-MM-dd')",
            output: "2026-04-12\n",
            files: false,
        }],
        run: crate::shell::date::get_date,
    },
    Spec {
        name: "New-TimeSpan",
        aliases: &[],
        synopsis: "A time span: between -Start and -End, or from -Days/-Hours/-Minutes/-Seconds",
        params: &[
            "Start",
            "End",
            "Days",
            "Hours",
            "Minutes",
            "Seconds",
            "Milliseconds",
        ],
        switches: &[],
        examples: &[Example {
            command: "(New-TimeSpan -Hours 36).TotalDays",
            output: "1.5\n",
            files: false,
        }],
        run: crate::shell::date::new_timespan,
    },
];

/// The builtin called `name` (its name or an alias, any case).
pub fn spec(name: &str) -> Option<&'static Spec> {
    BUILTINS.iter().find(|b| {
        b.name.eq_ignore_ascii_case(name) || b.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

pub fn find(name: &str) -> Option<Builtin> {
    spec(name).map(|b| b.run)
}

pub fn canonical(name: &str) -> &'static str {
    spec(name).map(|b| b.name).unwrap_or("")
}

/// An argument as given: a value, or code the builtin evaluates itself (a
/// script block, or a hashtable or list holding one: a calculated property).
#[derive(Debug, Clone)]
pub(super) enum Given<'c> {
    Value(Value),
    Code(&'c Expr),
}

/// Arguments of a builtin: named (by canonical parameter name) and
/// positional, in order.
pub(super) struct Args<'c> {
    pub named: Vec<(&'static str, Given<'c>)>,
    pub positional: Vec<Given<'c>>,
}

impl<'c> Args<'c> {
    pub fn given(&self, name: &str) -> Option<&Given<'c>> {
        self.named.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    /// A named parameter's value (None if absent or code).
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self.given(name) {
            Some(Given::Value(v)) => Some(v),
            _ => None,
        }
    }
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(Value::truthy)
    }
    /// The script block given to `name`.
    pub fn block(&self, name: &str) -> Option<&'c Script> {
        match self.given(name) {
            Some(Given::Code(e)) => script_block(e),
            _ => None,
        }
    }
    /// The script blocks given to `name`: one, or a list (`{a},{b}`).
    pub fn blocks_of(&self, name: &str) -> Vec<&'c Script> {
        match self.given(name) {
            Some(Given::Code(e)) => match &e.kind {
                ExprKind::Array(items) => items.iter().filter_map(script_block).collect(),
                _ => script_block(e).into_iter().collect(),
            },
            _ => Vec::new(),
        }
    }
    /// Positional values (not code).
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.positional.iter().filter_map(|g| match g {
            Given::Value(v) => Some(v),
            Given::Code(_) => None,
        })
    }
    /// The script blocks given positionally, in order.
    pub fn blocks(&self) -> impl Iterator<Item = &'c Script> + '_ {
        self.positional.iter().filter_map(|g| match g {
            Given::Code(e) => script_block(e),
            Given::Value(_) => None,
        })
    }
}

pub(super) fn script_block(e: &Expr) -> Option<&Script> {
    match &e.kind {
        ExprKind::ScriptBlock(s) => Some(s),
        _ => None,
    }
}

/// Whether evaluating `e` would meet a script block (which only builtins
/// that take code can use).
fn holds_code(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::ScriptBlock(_) => true,
        ExprKind::Array(items) => items.iter().any(holds_code),
        ExprKind::Hashtable(entries) => entries.iter().any(|en| {
            matches!(en.value.elements.as_slice(),
                [PipelineElement::Expression(x)] if holds_code(x))
        }),
        _ => false,
    }
}

pub(super) fn usage(c: &Command, msg: String) -> RuntimeError {
    RuntimeError::new(CmdletError::Usage(msg), c.name.span)
}

/// A value that is not acceptable for a parameter.
pub(super) fn bad(c: &Command, param: &str, msg: impl Into<String>) -> RuntimeError {
    RuntimeError::new(CmdletError::bad_value(param, msg), c.name.span)
}

/// Parses a builtin's arguments against its declaration; names may be
/// abbreviated to a unique prefix.
pub(super) fn args<'c>(sh: &mut Shell<'_>, c: &'c Command) -> R<Args<'c>> {
    let (params, switches) = match spec(&c.name.text) {
        Some(b) => (b.params, b.switches),
        None => (&[][..], &[][..]),
    };
    let mut out = Args {
        named: Vec::new(),
        positional: Vec::new(),
    };
    let all: Vec<&'static str> = params
        .iter()
        .chain(switches)
        .chain(COMMON_PARAMS)
        .chain(COMMON_SWITCHES)
        .copied()
        .collect();
    let mut it = c.args.iter().peekable();
    while let Some(a) = it.next() {
        match a {
            AstArg::Parameter {
                name,
                colon_value,
                name_span,
                ..
            } => {
                let exact = all
                    .iter()
                    .find(|p| p.eq_ignore_ascii_case(name))
                    .or_else(|| {
                        COMMON_ALIASES
                            .iter()
                            .find(|(a, _)| a.eq_ignore_ascii_case(name))
                            .map(|(_, p)| p)
                    });
                let hits: Vec<&&'static str> = match exact {
                    Some(e) => vec![e],
                    None => all
                        .iter()
                        .filter(|p| {
                            p.to_ascii_lowercase()
                                .starts_with(&name.to_ascii_lowercase())
                        })
                        .collect(),
                };
                let p: &'static str = match hits.as_slice() {
                    [one] => one,
                    [] => {
                        return Err(RuntimeError::new(
                            CmdletError::Usage(format!(
                                "a parameter cannot be found that matches parameter name '{name}'"
                            )),
                            *name_span,
                        ));
                    }
                    many => {
                        let names: Vec<String> = many.iter().map(|p| format!("-{p}")).collect();
                        return Err(RuntimeError::new(
                            CmdletError::Usage(format!(
                                "parameter '{name}' is ambiguous: it could be {}",
                                names.join(", ")
                            )),
                            *name_span,
                        ));
                    }
                };
                let is_switch = switches.contains(&p) || COMMON_SWITCHES.contains(&p);
                let v = if let Some(e) = colon_value {
                    given(sh, e)?
                } else if is_switch {
                    Given::Value(Value::Bool(true))
                } else {
                    match it.next() {
                        Some(AstArg::Value(e)) => given(sh, e)?,
                        _ => {
                            return Err(usage(
                                c,
                                format!("missing an argument for parameter '{p}'"),
                            ));
                        }
                    }
                };
                if out.named.iter().any(|(n, _)| *n == p) {
                    return Err(RuntimeError::new(
                        CmdletError::Usage(format!(
                            "cannot bind parameter '{p}' because it is given more than once"
                        )),
                        *name_span,
                    ));
                }
                out.named.push((p, v));
            }
            AstArg::Value(e) => out.positional.push(given(sh, e)?),
        }
    }
    Ok(out)
}

fn given<'c>(sh: &mut Shell<'_>, e: &'c Expr) -> R<Given<'c>> {
    Ok(if holds_code(e) {
        Given::Code(e)
    } else {
        Given::Value(sh.expr(e)?)
    })
}
