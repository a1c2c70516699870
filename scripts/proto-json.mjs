// Writes proto/<name>.json next to each .proto given: protobufjs's JSON form of the file
// (field names as written, keepCase), which src/cri/proto.ts loads with protobufjs/light at
// run time instead of parsing the .proto there (the parser and proto-loader stay out of the
// daemon). Run by `npm run gen`; the JSON files are build output, not committed.
import { writeFileSync } from 'node:fs';
import protobuf from 'protobufjs';

for (const file of process.argv.slice(2)) {
  const root = new protobuf.Root();
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  writeFileSync(file.replace(/\.proto$/, '.json'), JSON.stringify(root.toJSON()) + '\n');
}
