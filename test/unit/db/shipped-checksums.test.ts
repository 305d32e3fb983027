import assert from 'node:assert/strict';
import { migrationChecksum, migrationRecordName } from '../../../lib/db/migrate';
import { shippedMigrationSets } from '../../../lib/migrations';

/**
 * The checksum every shipped migration has been recorded with, per dialect. A database that ran a
 * migration refuses to start when its statements change (lib/db/migrate.ts), so the SQL text of a
 * released migration must stay byte-identical even when the code that builds it is reorganised.
 * A new migration is added here; an existing row never changes.
 */
const RECORDED: Record<string, Record<'mysql' | 'sqlite' | 'postgres', string>> = {
  'statestream/1-create-tables': {
    mysql: '010e9d642a61e2caba29f2b5b8f281e352c7a26bcc4c0072c9a78a35cec31cc5',
    sqlite: '6e0f3c40a9eff673797eba46de38d0c2a2c1d7b438ac130db0ebc7f2140adf8c',
    postgres: 'e7842273fa7ac70fc766c4e05776a5e083b3063331db882e92f822fc46d33417',
  },
  'statestream/2-create-normalise-trigger': {
    mysql: '5d2942762f8171b5653c57d968fa85e6143c09f9fa5becfd3528092443f422ec',
    sqlite: '2cf01d0f89e5832bb9d6ae29ee903e56226a62847b5a5c9e223e5ad040f31bc2',
    postgres: '0e74e29e86e4252bc3357e13d56282aa2ea017c2709047dc2b69f5dce197ba29',
  },
  'statestream/3-entity-labels-as-written': {
    mysql: 'fd1c91833e62e8a52695e37714be660faf4746585bd64ab6dfd0a753e9bf8dc3',
    sqlite: '5ae361f22f73fe1591724c985cca4ca0a0062a064d39483b7024b5f1fbc1491a',
    postgres: '5ebd5ea0f48daaf0570276d14ec29bd722c681b253ae2bb625c926f7b7fe5fca',
  },
  'rolling-averages/1-create-messages': {
    mysql: '344c5bd311e409151a8d8e363eb1656846784e4b040be3436e2192896f390cca',
    sqlite: 'd4915ee3f95ce56b917a71cb08cbe3ed143f0bf9951a7c415acef9f70af3ce62',
    postgres: '60a03a0dde92c713d89a978454e10233eff2838763f4b411d1dc965e3b7bfa82',
  },
  'isems/1-create-measurement': {
    mysql: '7297c1f188a31b0da1b00e94d453c4b7cb268669fa2986c1960e412b9a2e537c',
    sqlite: '75e92cc8260199dae389e19f67c5ea62243ec3c285225ab9c3e1c2f3cd7815d5',
    postgres: 'a4d754673fcd8ee48e273d7235c1204a75782f803271eb555147667ffac2b3e6',
  },
  'sensors/1-create-sensor-data': {
    mysql: '7560af86824648b8ce7bc2d1c0123aecea2b813ddeebf57b7a40ff65cb314c53',
    sqlite: '8bc3297baa79472e28473097e39ab5159c73cb227247bc0af475e55d6ffb8326',
    postgres: '696ab1b79483b8027abc4a33fa0196b1928331550f5d23246333df2808b049c4',
  },
  'sensors/2-create-aggregated-sensor-data': {
    mysql: 'ce10a70f9c7210c541395506a549b00241af6ee8a8d5094264659430dacee59b',
    sqlite: '115a92568e97cd657ee6cf5a2aa7e807b94055515522e92355a1f040ccdb63cb',
    postgres: '115ec9292a8dcb28fcb39b0ccf7e1c84651caecb6757b0729a4e665c237cdddf',
  },
  'sensors/3-create-aggregated-sensor-parts': {
    mysql: '411a3fd046288e1ba1e23fbcca74f6714aa65103b4d2fff7ed4039f5782a0f8e',
    sqlite: '069fc1140ef5e2e84dc2f842c1580ff98414a73bb8d7309eb495487ddd82db49',
    postgres: '2a7d21b6edde9e3e3ac68c856b5e897e33b9044db1ca09605e3be231b43252b4',
  },
  'sensors/4-original-rows': {
    mysql: '806f94c8c35eeb5737837fdd7faa75aaeaca95bfcb6ea2e648514bcfb84dc302',
    sqlite: '88e13255587c612285c7d9c9131f03e9c7ae099c354aba1a9c676ebd0ecfb399',
    postgres: 'ca28e0eec038dbafcfa3d1d12ad536ed00b9146922fa6a8845776f5b940722d4',
  },
  'connector/1-create-connector-bookmarks': {
    mysql: '371f78e53c90dbb17aadae4396afe49019f0da664a1853cceeabb6cb906d87fe',
    sqlite: '4218c7488299cfeacd355858b565b78b649db0913d798b443b1381b2026c6915',
    postgres: 'e736f4bb979157a309c82b40b9ad91a1814304c331502fa6d05ef7f0198f58fa',
  },
};

describe('shipped migration checksums', () => {
  it('every shipped migration is pinned here', () => {
    const shipped = shippedMigrationSets().flatMap((set) => set.migrations.map((m) => migrationRecordName(set, m)));
    assert.deepEqual(shipped, Object.keys(RECORDED));
  });

  for (const set of shippedMigrationSets()) {
    for (const migration of set.migrations) {
      const name = migrationRecordName(set, migration);
      it(`${name} runs the statements it was released with`, () => {
        for (const dialect of ['mysql', 'sqlite', 'postgres'] as const) {
          assert.equal(migrationChecksum(migration, dialect), RECORDED[name]?.[dialect], `${name} on ${dialect}`);
        }
      });
    }
  }
});
