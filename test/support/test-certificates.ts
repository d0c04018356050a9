/**
 * Throwaway certificates for TLS tests, made with the `openssl` command in a
 * directory of the caller's: a CA, server certificates (for 127.0.0.1 and
 * localhost unless told otherwise), and client certificates with chosen
 * subject CNs. EC P-256 keys, valid for one day.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface CertificateFiles {
  /** PEM certificate. */
  readonly certFile: string;
  /** PEM private key (PKCS#8). */
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface TestCertificateAuthority extends CertificateFiles {
  /** A server certificate for `hosts`: host names and IP addresses (`localhost`, `127.0.0.1`). */
  server(name: string, hosts?: readonly string[]): CertificateFiles;
  /** A client certificate whose subject CN is `commonName`. */
  client(name: string, commonName: string): CertificateFiles;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function files(dir: string, name: string): CertificateFiles {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

const keyOptions = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A new CA named `name` in `dir` (files `<name>.crt`, `<name>.key`, ...). */
export function createTestCertificateAuthority(dir: string, name = 'ca'): TestCertificateAuthority {
  openssl(
    [
      'req',
      '-x509',
      ...keyOptions,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-subj',
      `/CN=fanout test CA ${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const issue = (leaf: string, commonName: string, extensions: string): CertificateFiles => {
    openssl(
      [
        'req',
        ...keyOptions,
        '-keyout',
        `${leaf}.key`,
        '-out',
        `${leaf}.csr`,
        '-subj',
        `/CN=${commonName}`,
      ],
      dir,
    );
    writeFileSync(join(dir, `${leaf}.ext`), extensions);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${leaf}.csr`,
        '-CA',
        `${name}.crt`,
        '-CAkey',
        `${name}.key`,
        '-set_serial',
        `0x${randomBytes(8).toString('hex')}`,
        '-days',
        '1',
        '-out',
        `${leaf}.crt`,
        '-extfile',
        `${leaf}.ext`,
      ],
      dir,
    );
    return files(dir, leaf);
  };
  return {
    ...files(dir, name),
    server: (leaf, hosts = ['localhost', '127.0.0.1']) =>
      issue(
        leaf,
        hosts[0] ?? 'localhost',
        `subjectAltName=${hosts.map((host) => `${isIP(host) === 0 ? 'DNS' : 'IP'}:${host}`).join(',')}\nextendedKeyUsage=serverAuth\n`,
      ),
    client: (leaf, commonName) => issue(leaf, commonName, 'extendedKeyUsage=clientAuth\n'),
  };
}
