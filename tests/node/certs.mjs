// Certificates for the TLS tests, made at test time with the `openssl`
// command into a temporary directory (never committed): a CA, leaves it
// signs for servers (subjectAltName) and clients (clientAuth), and the
// SPKI pin Chromium takes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash, X509Certificate } from 'node:crypto';
import path from 'node:path';

function openssl(args, cwd) {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 10000 });
  } catch (e) {
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A directory of certificates; `remove()` deletes it. */
export class CertDir {
  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'wsrt-tls-'));
    this._serial = 1;
  }

  file(name) {
    return path.join(this.dir, name);
  }

  /** A self-signed CA: { cert, key } paths. */
  ca(name, cn = `wsrt test CA ${name}`) {
    openssl(['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2',
      '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], this.dir);
    return { cert: this.file(`${name}.pem`), key: this.file(`${name}.key`) };
  }

  /**
   * A leaf signed by `ca`: `subject` as openssl writes it ("/O=x/CN=y"),
   * `san` its subjectAltName ("DNS:localhost,IP:127.0.0.1") for a server,
   * none for a client. Returns { cert, key } paths.
   */
  leaf(name, ca, subject, san) {
    const ext = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      `extendedKeyUsage=${san ? 'serverAuth' : 'clientAuth'}`,
      ...(san ? [`subjectAltName=${san}`] : []),
    ];
    writeFileSync(this.file(`${name}.ext`), `${ext.join('\n')}\n`);
    openssl(['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], this.dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(this._serial++),
      '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`], this.dir);
    return { cert: this.file(`${name}.pem`), key: this.file(`${name}.key`) };
  }

  remove() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A PEM certificate file's DER (what `getPeerCertificate().raw` and `request.tls.peerCertificate` hold). */
export function der(certPath) {
  return new X509Certificate(readFileSync(certPath)).raw;
}

/** base64 of the SHA-256 of a certificate's SubjectPublicKeyInfo (Chromium's --ignore-certificate-errors-spki-list). */
export function spkiPin(certPath) {
  const spki = new X509Certificate(readFileSync(certPath)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
