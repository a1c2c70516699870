import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertFiles {
  cert: string;
  key: string;
}

/**
 * Certificates made with openssl in `dir`: self-signed CAs and certificates they sign, each
 * with the subject and subjectAltName asked for. Files are NAME.pem and NAME.key.
 */
export class TestPki {
  constructor(readonly dir: string) {}

  private ssl(args: string[]): Promise<unknown> {
    return run('openssl', args, { cwd: this.dir });
  }

  files(name: string): CertFiles {
    return { cert: join(this.dir, `${name}.pem`), key: join(this.dir, `${name}.key`) };
  }

  async ca(name: string): Promise<CertFiles> {
    await this.ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`]);
    return this.files(name);
  }

  /** `subject` in openssl's form ("/CN=admin/O=Ops"); `san` as "DNS:x,URI:y". */
  async signed(name: string, by: string, san: string, subject = `/CN=${name}`): Promise<CertFiles> {
    await this.ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
    await writeFile(join(this.dir, `${name}.ext`), `subjectAltName=${san}\n`);
    await this.ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.pem`, '-CAkey', `${by}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
    return this.files(name);
  }
}
