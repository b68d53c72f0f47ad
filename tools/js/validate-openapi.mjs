// Validates the OpenAPI document: against the OpenAPI 3.1 schema
// (@seriousme/openapi-schema-validator), then every $ref resolves and
// every schema compiles as JSON Schema 2020-12 in Ajv's strict mode.
//   node tools/js/validate-openapi.mjs src/api/openapi.json
// Exit 0 when valid; 1 with every problem printed.
import { Validator } from "@seriousme/openapi-schema-validator";
import { deref, loadDocument, operations, resolvePointer, schemaCompiler } from "./openapi.mjs";

const file = process.argv[2];
if (!file) {
  console.error("usage: validate-openapi.mjs DOCUMENT.json");
  process.exit(2);
}

function* refs(node, at) {
  if (Array.isArray(node)) {
    for (const [i, v] of node.entries()) yield* refs(v, `${at}/${i}`);
  } else if (node !== null && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string") yield { ref: v, at };
      else yield* refs(v, `${at}/${k}`);
    }
  }
}

// Every schema of the document with where it is.
function* schemas(doc) {
  for (const [name, s] of Object.entries(doc.components?.schemas ?? {}))
    yield { at: `#/components/schemas/${name}`, schema: s };
  for (const { method, path, op } of operations(doc)) {
    const where = `${method.toUpperCase()} ${path}`;
    for (const p of op.parameters ?? []) {
      const param = deref(doc, p);
      if (param?.schema) yield { at: `${where} parameter ${param.name}`, schema: param.schema };
    }
    const body = deref(doc, op.requestBody);
    for (const [media, m] of Object.entries(body?.content ?? {}))
      if (m.schema) yield { at: `${where} request ${media}`, schema: m.schema };
    for (const [status, r] of Object.entries(op.responses ?? {}))
      for (const [media, m] of Object.entries(deref(doc, r)?.content ?? {}))
        if (m.schema) yield { at: `${where} ${status} ${media}`, schema: m.schema };
  }
}

const doc = loadDocument(file);
const problems = [];
const validator = new Validator();
const result = await validator.validate(structuredClone(doc));
if (!result.valid)
  for (const e of [result.errors].flat())
    problems.push(`OpenAPI ${validator.version ?? "?"}: ${e.instancePath || "/"} ${e.message ?? JSON.stringify(e)}` +
      (e.params ? ` ${JSON.stringify(e.params)}` : ""));
if (!String(doc.openapi).startsWith("3.1."))
  problems.push(`"openapi" is ${JSON.stringify(doc.openapi)}; this API is described in OpenAPI 3.1`);
for (const { ref, at } of refs(doc, "#"))
  if (resolvePointer(doc, ref) === undefined) problems.push(`${at}: $ref ${ref} points at nothing`);
const compile = schemaCompiler(doc);
let compiled = 0;
for (const { at, schema } of schemas(doc)) {
  try {
    compile(schema);
    ++compiled;
  } catch (e) {
    problems.push(`${at}: ${e.message}`);
  }
}
if (problems.length) {
  console.error(`${file}: ${problems.length} problem(s)`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(
  `${file}: valid OpenAPI ${doc.openapi}, ${operations(doc).length} operations, ${compiled} schemas compiled (JSON Schema 2020-12, strict)`,
);
