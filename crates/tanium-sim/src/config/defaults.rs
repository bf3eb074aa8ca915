//! The built-in groups, action groups, users and packages.

use super::{GroupDef, PackageDef, PackageEffect, SavedQuestionDef, UserDef};

pub(super) fn default_groups() -> Vec<GroupDef> {
    let group = |name: &str, text: &str| GroupDef {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    vec![
        group("All Windows", " OS Platform equals Windows"),
        group("All Linux", " OS Platform equals Linux"),
        group("All Mac", " OS Platform equals Mac"),
        group(
            "Windows Servers",
            " Operating System contains \"Windows Server\"",
        ),
        group("Production", " Custom Tags equals Production"),
    ]
}

pub(super) fn default_action_groups() -> Vec<GroupDef> {
    let group = |name: &str, text: &str| GroupDef {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    vec![
        group("All Computers", " All Computers"),
        // Tanium's built-in Default action group holds only "No Computers".
        group("Default", " No Computers"),
        group("All Windows", " All Windows"),
        group("All Linux", " All Linux"),
    ]
}

pub(super) fn default_users(seed: u64) -> Vec<UserDef> {
    let token = |user: u64| {
        let mut hex = String::new();
        for part in 0..4 {
            hex.push_str(&format!(
                "{:016x}",
                crate::mix(seed ^ 0x7031_3a4e, user * 8 + part)
            ));
        }
        hex.truncate(58);
        format!("token-{hex}")
    };
    vec![
        UserDef {
            id: 1,
            name: "runbook".to_owned(),
            password: "runbook-sim".to_owned(),
            api_token: token(1),
        },
        UserDef {
            id: 2,
            name: "approver".to_owned(),
            password: "approver-sim".to_owned(),
            api_token: token(2),
        },
    ]
}

fn parameter_definition(parameters: serde_json::Value) -> String {
    serde_json::json!({
        "parameters": parameters,
        "parameterType": "com.tanium.components.parameters::ParametersArray",
        "model": "com.tanium.components.parameters::ParametersArray",
    })
    .to_string()
}

/// The pytan example with one parameter of every input type.
const ALL_PARAMETER_TYPES: &str = include_str!("../../data/example_of_all_package_parameters.json");

pub(super) fn default_packages() -> Vec<PackageDef> {
    let validation = |expression: &str, help: &str| {
        serde_json::json!({
            "expression": expression, "flags": "", "helpString": help,
            "model": "com.tanium.models::ValidationExpression",
            "parameterType": "com.tanium.models::ValidationExpression",
        })
    };
    let tag_parameter = |help: &str| {
        parameter_definition(serde_json::json!([{
            "key": "$1", "label": "Tag", "helpString": help,
            "promptText": "Tag", "defaultValue": "", "value": "", "maxChars": 0, "restrict": null,
            "validationExpressions": [validation("\\S", "You must enter a value")],
            "parameterType": "com.tanium.components.parameters::TextInputParameter",
            "model": "com.tanium.components.parameters::TextInputParameter",
        }]))
    };
    let tagging = tag_parameter("The tag to add");
    // Exactly the string of the seed's `packages/by-name/Set Windows Tanium Client Logging Level`.
    let logging = "{\"parameters\":[{\"maximum\":99,\"key\":\"$1\",\"stepSize\":1,\"label\":\"Log Level (0-99)\",\"helpString\":\"Enter a logging level, 0=no logging, 99=verbose logging\",\"snapInterval\":1,\"defaultValue\":\"1\",\"minimum\":0,\"value\":\"1\",\"parameterType\":\"com.tanium.components.parameters::NumericParameter\",\"model\":\"com.tanium.components.parameters::NumericParameter\"}],\"parameterType\":\"com.tanium.components.parameters::ParametersArray\",\"model\":\"com.tanium.components.parameters::ParametersArray\"}".to_owned();
    let reboot = parameter_definition(serde_json::json!([
        {
            "key": "$1", "label": "Force reboot", "helpString": "Reboot even when users are logged on",
            "promptText": "", "defaultValue": "no", "value": "no", "values": ["yes", "no"],
            "requireSelection": true,
            "parameterType": "com.tanium.components.parameters::DropDownParameter",
            "model": "com.tanium.components.parameters::DropDownParameter",
        },
        {
            "key": "$2", "label": "Delay (seconds)", "helpString": "Seconds to wait before rebooting",
            "minimum": 0, "maximum": 3600, "stepSize": 5, "snapInterval": 5,
            "defaultValue": "30", "value": "30",
            "parameterType": "com.tanium.components.parameters::NumericParameter",
            "model": "com.tanium.components.parameters::NumericParameter",
        },
    ]));
    // Re-serialised compactly: the fixture is pretty-printed, real servers send one line.
    let all_types = serde_json::from_str::<serde_json::Value>(ALL_PARAMETER_TYPES)
        .map(|value| value.to_string())
        .unwrap_or_default();
    let package =
        |id: u64, name: &str, command: &str, verify: u64, definition: String, set: &str| {
            PackageDef {
                id,
                name: name.to_owned(),
                command: command.to_owned(),
                command_timeout: 600,
                expire_seconds: 3600,
                verify_group_id: verify,
                parameter_definition: definition,
                content_set: set.to_owned(),
                effect: None,
            }
        };
    let mut logging_package = package(
        15,
        "Set Windows Tanium Client Logging Level",
        "cmd /c reg add \"HKLM\\Software\\Tanium\\Tanium Client\" /v LogVerbosityLevel /t REG_DWORD /d $1 /f",
        0,
        logging,
        "Client Management",
    );
    logging_package.command_timeout = 300;
    logging_package.expire_seconds = 900;
    logging_package.effect = Some(PackageEffect::SetLoggingLevel);
    let mut add_tags = package(
        173_205,
        "Custom Tagging - Add Tags",
        "cmd.exe /c cscript.exe //E:VBScript //T:60 add-tags.vbs \"$1\"",
        0,
        tagging,
        "Core Content",
    );
    add_tags.effect = Some(PackageEffect::AddTag);
    let mut remove_tags = package(
        173_206,
        "Custom Tagging - Remove Tags",
        "cmd.exe /c cscript.exe //E:VBScript //T:60 remove-tags.vbs \"$1\"",
        0,
        tag_parameter("The tag to remove"),
        "Core Content",
    );
    remove_tags.effect = Some(PackageEffect::RemoveTag);
    vec![
        logging_package,
        add_tags,
        package(
            240,
            "Reboot Windows Machine",
            "cmd /c cscript //T:3600 reboot.vbs $1 $2",
            0,
            reboot,
            "Client Management",
        ),
        package(
            241,
            "Example All Parameter Types",
            "cmd /c echo $1 $2 $3 $4 $5 $6 $7 $8",
            0,
            all_types,
            "Examples",
        ),
        package(
            242,
            "Apply Windows Security Baseline",
            "cmd /c cscript //T:600 apply-baseline.vbs",
            // Verification against the "All Windows" filter group.
            3,
            String::new(),
            "Security",
        ),
        package(
            243,
            "Collect Diagnostics",
            "cmd /c collect-diagnostics.cmd",
            0,
            String::new(),
            "Core Content",
        ),
        // Added after the first state-file format: last, so that the packages before keep
        // their places.
        remove_tags,
    ]
}

/// The built-in saved questions, asked again every ten simulated minutes.
pub(super) fn default_saved_questions() -> Vec<SavedQuestionDef> {
    let saved = |id: u64, name: &str, query_text: &str| SavedQuestionDef {
        id,
        name: name.to_owned(),
        query_text: query_text.to_owned(),
        issue_seconds: 600,
    };
    vec![
        saved(
            1001,
            "Hosts Running Evil",
            "Get Computer Name and IP Address from all machines with Running Processes equals \"evil.exe\"",
        ),
        saved(
            1002,
            "Evil Payload on Disk",
            "Get Computer Name and File Exists[\"C:\\Users\\Public\\evil.exe\"] from all machines with OS Platform equals Windows",
        ),
        saved(
            1003,
            "Tanium Client Logging Levels",
            "Get Tanium Client Logging Level from all machines",
        ),
        saved(
            1004,
            "Custom Tags by Computer",
            "Get Computer Name and Custom Tags from all machines",
        ),
        saved(
            1005,
            "Operating Systems",
            "Get Operating System and OS Platform from all machines",
        ),
    ]
}
