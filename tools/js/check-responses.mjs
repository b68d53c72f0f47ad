// Checks answers the server gave against the OpenAPI document: the route
// and its status are described, the media type is one the status lists,
// and a JSON body is valid against that media type's schema.
//   node tools/js/check-responses.mjs src/api/openapi.json answers.jsonl
// Each line of answers.jsonl: {"method","target","status","content_type","body"}
// (body: the answer's text). Exit 0 when every answer conforms; 1 with each
// one that does not, and why.
import { readFileSync } from "node:fs";
import { deref, findOperation, loadDocument, schemaCompiler } from "./openapi.mjs";

const [file, answersFile] = process.argv.slice(2);
if (!file || !answersFile) {
  console.error("usage: check-responses.mjs DOCUMENT.json ANSWERS.jsonl");
  process.exit(2);
}
const doc = loadDocument(file);
const compile = schemaCompiler(doc);
const validators = new Map();

function responseFor(op, status) {
  const r = op.responses ?? {};
  return deref(doc, r[String(status)] ?? r[`${String(status)[0]}XX`] ?? r.default);
}

// Why `answer` does not conform, or null.
function problem(answer) {
  const found = findOperation(doc, answer.method, answer.target);
  if (!found) return `${answer.method} ${answer.target.split("?")[0]} is not described`;
  const response = responseFor(found.op, answer.status);
  if (!response) return `status ${answer.status} is not described for ${found.method.toUpperCase()} ${found.path}`;
  const media = String(answer.content_type ?? "").split(";")[0].trim().toLowerCase();
  const content = response.content ?? {};
  if (!media && answer.body === "" && Object.keys(content).length === 0) return null;
  const described = content[media];
  if (!described)
    return `media type "${media}" is not described for ${found.path} ${answer.status} (described: ${Object.keys(content).join(", ") || "none"})`;
  if (!described.schema || !/[/+]json$/.test(media)) return null;
  let body;
  try {
    body = JSON.parse(answer.body);
  } catch (e) {
    return `the body is not JSON (${e.message})`;
  }
  const key = `${found.method} ${found.path} ${answer.status} ${media}`;
  if (!validators.has(key)) validators.set(key, compile(described.schema));
  const validate = validators.get(key);
  if (validate(body)) return null;
  const why = validate.errors
    .map((e) => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`)
    .join("; ");
  return `schema of ${found.path} ${answer.status}: ${why}`;
}

const answers = readFileSync(answersFile, "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));
let bad = 0;
for (const a of answers) {
  const why = problem(a);
  if (!why) continue;
  ++bad;
  const excerpt = a.body.length > 300 ? a.body.slice(0, 300) + "..." : a.body;
  console.error(`${a.method} ${a.target} -> ${a.status}: ${why}\n    body: ${excerpt}`);
}
console.log(`${answers.length - bad} of ${answers.length} answers conform to ${file}`);
process.exit(bad ? 1 : 0);
