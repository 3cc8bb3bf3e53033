// The package's own rules, which `sf project convert source` does not check (it converts a
// permission set naming a missing field, or a field of type "Numbr"): every reference between
// components resolves, fields follow Salesforce's limits, the PushTopic file follows the
// Streaming API's query rules, and the shipped Call Center fits the fields it is loaded into.
// Components are found and read with Salesforce's own source-deploy-retrieve library, as
// `sf` does. Prints one line per fault and exits 1 if there is any.
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ComponentSet } from '@salesforce/source-deploy-retrieve';

const root = path.resolve(process.argv[2] ?? '.');
const project = JSON.parse(readFileSync(path.join(root, 'sfdx-project.json'), 'utf8'));
const apiVersion = project.sourceApiVersion;
const directories = project.packageDirectories.map((d) => path.join(root, d.path));
const faults = [];
const fault = (where, message) => faults.push(`${path.relative(root, where)}: ${message}`);
const list = (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

const components = ComponentSet.fromSource(directories).getSourceComponents().toArray();
const ofType = (type) => components.filter((c) => c.type.name === type);
const xmlOf = async (component) => Object.values(await component.parseXml())[0] ?? {};

// Objects and fields. Standard objects we add fields to (Activity) or name (Task, User).
const STANDARD_FIELDS = new Set(['Id', 'Name', 'OwnerId', 'CreatedById', 'CreatedDate', 'LastModifiedById', 'LastModifiedDate']);
const STANDARD_OBJECTS = new Set(['Activity', 'Task', 'Event', 'User', 'Contact', 'Lead', 'Account']);
const objects = new Map(); // object -> { fields: Map(name -> xml), file }
const objectEntry = (name) => {
    if (!objects.has(name)) objects.set(name, { fields: new Map(), file: null });
    return objects.get(name);
};
for (const object of ofType('CustomObject')) {
    const xml = await xmlOf(object);
    objectEntry(object.fullName).file = object.xml;
    for (const element of ['label', 'pluralLabel', 'nameField', 'deploymentStatus', 'sharingModel']) {
        if (xml[element] === undefined) fault(object.xml, `missing <${element}>`);
    }
    for (const child of object.getChildren()) {
        if (child.type.name === 'CustomField') {
            objectEntry(object.fullName).fields.set(child.fullName.split('.')[1], { xml: await xmlOf(child), file: child.xml });
        }
    }
}
// Fields whose object has no object file (decomposed children of a standard object).
for (const field of ofType('CustomField')) {
    const [object, name] = field.fullName.split('.');
    if (!STANDARD_OBJECTS.has(object) && !objects.get(object)?.file) fault(field.xml, `field of ${object}, which has no object file in any package directory`);
    objectEntry(object).fields.set(name, { xml: await xmlOf(field), file: field.xml });
}

const EXTERNAL_ID_TYPES = new Set(['Text', 'Number', 'Email', 'AutoNumber']);
const TYPES = new Set([
    'Text',
    'Number',
    'Checkbox',
    'DateTime',
    'Date',
    'Picklist',
    'Lookup',
    'MasterDetail',
    'Email',
    'Phone',
    'LongTextArea',
    'TextArea',
    'Url',
    'Currency',
    'Percent'
]);
for (const [object, { fields }] of objects) {
    for (const { xml, file } of fields.values()) {
        const expected = path.basename(file).split('.')[0];
        if (xml.fullName !== expected) fault(file, `<fullName> ${xml.fullName} is not the file's name ${expected}`);
        if (!TYPES.has(xml.type)) fault(file, `unknown field type ${JSON.stringify(xml.type)}`);
        if (!xml.label) fault(file, 'missing <label>');
        if (xml.type === 'Text' && !(Number(xml.length) >= 1 && Number(xml.length) <= 255)) fault(file, `Text length ${xml.length} is not 1 to 255`);
        if (xml.type === 'Number') {
            const precision = Number(xml.precision);
            const scale = Number(xml.scale);
            if (!(precision >= 1 && precision <= 18)) fault(file, `Number precision ${xml.precision} is not 1 to 18`);
            if (!(scale >= 0 && scale <= precision)) fault(file, `Number scale ${xml.scale} is not 0 to the precision`);
        }
        if (xml.type === 'Checkbox' && xml.defaultValue === undefined) fault(file, 'a Checkbox needs <defaultValue>');
        if (xml.type === 'Lookup') {
            for (const element of ['referenceTo', 'relationshipName', 'deleteConstraint']) {
                if (!xml[element]) fault(file, `a Lookup needs <${element}>`);
            }
            if (xml.referenceTo && !objects.has(xml.referenceTo) && !STANDARD_OBJECTS.has(xml.referenceTo))
                fault(file, `Lookup to unknown object ${xml.referenceTo}`);
            if (xml.required === 'true' && xml.deleteConstraint === 'SetNull') fault(file, 'a required Lookup cannot clear itself (SetNull)');
        }
        if (xml.type === 'Picklist') {
            const values = list(xml.valueSet?.valueSetDefinition?.value);
            if (xml.valueSet?.restricted !== 'true') fault(file, "picklists are restricted to the contract's values: <restricted>true</restricted>");
            if (values.length === 0) fault(file, 'a picklist without values');
        }
        if (xml.externalId === 'true' && !EXTERNAL_ID_TYPES.has(xml.type)) fault(file, `an External ID cannot be of type ${xml.type}`);
        if (xml.unique === 'true' && !EXTERNAL_ID_TYPES.has(xml.type)) fault(file, `a ${xml.type} field cannot be unique`);
        if (object === 'Activity' && xml.unique === 'true') fault(file, 'unique on an Activity field is not known to deploy; upsert on the External ID alone');
    }
}
const fieldOf = (object, name) => objects.get(object === 'Task' || object === 'Event' ? 'Activity' : object)?.fields.get(name);
const fieldExists = (object, name) => STANDARD_FIELDS.has(name) || fieldOf(object, name) !== undefined;
const picklistValues = (object, name) => list(fieldOf(object, name)?.xml.valueSet?.valueSetDefinition?.value).map((v) => v.fullName);

// Apex: each class has its meta file (convert silently drops a class without one) and the
// project's API version.
const apexNames = new Set(ofType('ApexClass').map((c) => c.fullName));
for (const directory of directories) {
    for (const classes of findDirectories(directory, 'classes')) {
        for (const file of readdirSync(classes)) {
            if (file.endsWith('.cls') && !existsSync(path.join(classes, `${file}-meta.xml`)))
                fault(path.join(classes, file), 'has no .cls-meta.xml (convert would drop it)');
        }
    }
}
for (const apexClass of ofType('ApexClass')) {
    const xml = await xmlOf(apexClass);
    if (xml.apiVersion !== apiVersion) fault(apexClass.xml, `apiVersion ${xml.apiVersion} is not the project's ${apiVersion}`);
    if (xml.status !== 'Active') fault(apexClass.xml, 'status must be Active');
}

// Bundles the app's pages can name.
const bundles = new Set([...ofType('LightningComponentBundle'), ...ofType('AuraDefinitionBundle')].map((c) => c.fullName));
for (const bundle of ofType('LightningComponentBundle')) {
    const xml = await xmlOf(bundle);
    if (xml.apiVersion !== apiVersion) fault(bundle.xml, `apiVersion ${xml.apiVersion} is not the project's ${apiVersion}`);
    const targets = list(xml.targets?.target);
    if (targets.includes('lightning__UtilityBar') && xml.isExposed !== 'true') fault(bundle.xml, 'a utility item must be exposed: <isExposed>true</isExposed>');
}

// Permission sets.
const apps = new Set(ofType('CustomApplication').map((c) => c.fullName));
const tabs = new Set(ofType('CustomTab').map((c) => c.fullName));
for (const permissionSet of ofType('PermissionSet')) {
    const xml = await xmlOf(permissionSet);
    for (const entry of list(xml.fieldPermissions)) {
        const [object, name] = entry.field.split('.');
        const field = fieldOf(object, name);
        if (!field) fault(permissionSet.xml, `field permission for unknown field ${entry.field}`);
        else if (field.xml.required === 'true') fault(permissionSet.xml, `field permission for required field ${entry.field} (the deploy fails)`);
        if (entry.editable === 'true' && entry.readable !== 'true') fault(permissionSet.xml, `${entry.field} editable but not readable`);
    }
    for (const entry of list(xml.objectPermissions)) {
        if (!objects.has(entry.object) && !STANDARD_OBJECTS.has(entry.object)) fault(permissionSet.xml, `object permission for unknown object ${entry.object}`);
    }
    for (const entry of list(xml.classAccesses)) {
        if (!apexNames.has(entry.apexClass)) fault(permissionSet.xml, `class access for unknown class ${entry.apexClass}`);
    }
    for (const entry of list(xml.tabSettings)) {
        if (!tabs.has(entry.tab)) fault(permissionSet.xml, `tab setting for unknown tab ${entry.tab}`);
    }
    for (const entry of list(xml.applicationVisibilities)) {
        if (!apps.has(entry.application)) fault(permissionSet.xml, `visibility of unknown app ${entry.application}`);
    }
}

// Tabs, layouts, the app and its utility bar.
for (const tab of ofType('CustomTab')) {
    if (!objects.has(tab.fullName)) fault(tab.xml, `tab of unknown object ${tab.fullName}`);
}
for (const layout of ofType('Layout')) {
    const object = layout.fullName.split('-')[0];
    const xml = await xmlOf(layout);
    if (!objects.has(object)) fault(layout.xml, `layout of unknown object ${object}`);
    for (const section of list(xml.layoutSections)) {
        for (const column of list(section.layoutColumns)) {
            for (const item of list(column.layoutItems)) {
                if (item.field && !fieldExists(object, item.field)) fault(layout.xml, `layout names unknown field ${object}.${item.field}`);
                const field = fieldOf(object, item.field);
                if (field?.xml.required === 'true' && item.behavior !== 'Required')
                    fault(layout.xml, `required field ${item.field} must have behavior Required`);
            }
        }
    }
    for (const related of list(xml.relatedLists)) {
        const [child, lookup] = String(related.relatedList).split('.');
        if (lookup && fieldOf(child, lookup)?.xml.referenceTo !== object) fault(layout.xml, `related list ${related.relatedList} is not a lookup to ${object}`);
    }
}
const flexiPages = new Map();
for (const page of ofType('FlexiPage')) flexiPages.set(page.fullName, { page, xml: await xmlOf(page) });
for (const app of ofType('CustomApplication')) {
    const xml = await xmlOf(app);
    for (const tab of list(xml.tabs)) {
        if (!tab.startsWith('standard-') && !tabs.has(tab)) fault(app.xml, `app names unknown tab ${tab}`);
    }
    if (xml.utilityBar && !flexiPages.has(xml.utilityBar)) fault(app.xml, `utility bar ${xml.utilityBar} is not a FlexiPage of the project`);
    if (xml.navType !== 'Console') fault(app.xml, 'the app must be a console app: Omni-Channel events reach only console apps');
}
for (const { page, xml } of flexiPages.values()) {
    for (const region of list(xml.flexiPageRegions)) {
        for (const instance of list(region.itemInstances)) {
            const name = instance.componentInstance?.componentName;
            if (name && !bundles.has(name)) fault(page.xml, `names component ${name}, which is no bundle of the project`);
        }
    }
}

// Static resources: JSON parses; the PushTopic and Call Center files fit the schema.
const resources = new Map();
for (const resource of ofType('StaticResource')) {
    const xml = await xmlOf(resource);
    if (xml.contentType !== 'application/json') continue;
    const file = resource.content;
    try {
        resources.set(resource.fullName, { file, json: JSON.parse(readFileSync(file, 'utf8')) });
    } catch (error) {
        fault(file, `not JSON: ${error.message}`);
    }
}
const topics = resources.get('PresenceBridgePushTopics');
if (!topics) fault(root, 'the static resource PresenceBridgePushTopics is missing');
else checkPushTopics(topics.file, topics.json);
const callCenter = resources.get('PresenceBridgeDefaultCallCenter');
if (!callCenter) fault(root, 'the static resource PresenceBridgeDefaultCallCenter is missing');
else checkCallCenter(callCenter.file, callCenter.json);

function checkPushTopics(file, json) {
    if (String(json.apiVersion.toFixed?.(1) ?? json.apiVersion) !== apiVersion)
        fault(file, `apiVersion ${json.apiVersion} must equal the package's ${apiVersion} (queries name packaged objects)`);
    for (const topic of list(json.topics)) {
        const where = `${path.basename(file)} ${topic.name}`;
        if (!topic.name || topic.name.length > 25) fault(file, `${where}: Name must be 1 to 25 characters`);
        if ((topic.description ?? '').length > 400) fault(file, `${where}: Description over 400 characters`);
        if (!['All', 'Referenced', 'Select', 'Where'].includes(topic.notifyForFields)) fault(file, `${where}: NotifyForFields ${topic.notifyForFields}`);
        const query = String(topic.query ?? '');
        if (query.length > 1300) fault(file, `${where}: Query over 1,300 characters`);
        const match = /^SELECT\s+(.+?)\s+FROM\s+(\w+)(\s+WHERE\s+.+)?$/i.exec(query);
        if (!match) {
            fault(file, `${where}: Query is not SELECT … FROM object [WHERE …]`);
            continue;
        }
        const [, selected, object, where_] = match;
        const fields = selected.split(',').map((f) => f.trim());
        if (fields[0] !== 'Id') fault(file, `${where}: the query must select Id first`);
        if (!objects.has(object)) fault(file, `${where}: unknown object ${object}`);
        for (const field of fields) {
            if (field.includes('.')) fault(file, `${where}: relationship field ${field} (PushTopic queries cannot follow relationships)`);
            else if (!fieldExists(object, field)) fault(file, `${where}: unknown field ${object}.${field}`);
        }
        if (/\b(LIMIT|ORDER\s+BY|GROUP\s+BY|COUNT\s*\(|NOT\s+(?!IN\b))/i.test(`${where_ ?? ''}`))
            fault(file, `${where}: LIMIT, ORDER BY, GROUP BY, COUNT and NOT are not allowed`);
        if (object === 'Agent_Presence__c' && fields.includes('Heartbeat_At__c'))
            fault(file, `${where}: heartbeats must cost no events (leave Heartbeat_At__c out)`);
    }
}

function checkCallCenter(file, json) {
    const classes = picklistValues('Call_Center_Presence_State__c', 'Class__c');
    const directions = picklistValues('Call_Center__c', 'Sync_Direction__c');
    if (!directions.includes(json.settings?.sync_direction))
        fault(file, `sync_direction ${json.settings?.sync_direction} is not a value of Call_Center__c.Sync_Direction__c`);
    const lengthOf = (object, name) => Number(fieldOf(object, name)?.xml.length ?? 0);
    for (const state of list(json.states)) {
        if (!classes.includes(state.class)) fault(file, `state ${state.label}: class ${state.class} is not a value of Class__c`);
        if (!state.label || state.label.length > 80) fault(file, `state ${state.label}: the label must fit Name (80)`);
        if (state.label && state.label.length > lengthOf('Agent_Presence__c', 'State__c'))
            fault(file, `state ${state.label}: the label must fit Agent_Presence__c.State__c`);
        for (const part of ['availability', 'activity']) {
            const value = state.teams?.[part] ?? '';
            const field = part === 'availability' ? 'Teams_Availability__c' : 'Teams_Activity__c';
            if (value.length > lengthOf('Call_Center_Presence_State__c', field)) fault(file, `state ${state.label}: ${part} does not fit ${field}`);
        }
    }
}

function findDirectories(directory, name) {
    const found = [];
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
        if (!entry.isDirectory() || entry.name === 'node_modules') continue;
        const full = path.join(directory, entry.name);
        if (entry.name === name) found.push(full);
        found.push(...findDirectories(full, name));
    }
    return found;
}

if (faults.length > 0) {
    for (const line of faults) console.error(`lint-package: ${line}`);
    console.error(`lint-package: ${faults.length} fault(s)`);
    process.exit(1);
}
const fieldCount = [...objects.values()].reduce((n, o) => n + o.fields.size, 0);
console.log(
    `lint-package: ${components.length} components, ${objects.size} objects, ${fieldCount} fields, ${list(topics?.json.topics).length} PushTopics: no faults`
);
