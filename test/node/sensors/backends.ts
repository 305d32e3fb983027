/** The databases every sensors node test runs against: a SQLite file and throwaway MariaDB and PostgreSQL databases. */
import { join } from 'node:path';
import {
  createTestMysqlDatabase,
  createTestPostgresDatabase,
  requireService,
  type TestMysqlDatabase,
  type TestPostgresDatabase,
} from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';

export interface Backend {
  name: string;
  url(): string;
  setup(this: Mocha.Context): Promise<void>;
  teardown(): Promise<void>;
}

export function backends(file: string): Backend[] {
  let dir = '';
  let mysql: TestMysqlDatabase | undefined;
  let postgres: TestPostgresDatabase | undefined;
  return [
    {
      name: 'SQLite',
      url: () => `sqlite:${join(dir, file)}`,
      setup: async () => {
        dir = makeTempDir();
      },
      teardown: async () => removeTempDir(dir),
    },
    {
      name: 'MariaDB',
      url: () => mysql!.url,
      setup: async function (this: Mocha.Context) {
        await requireService(this, 'mysql');
        mysql = await createTestMysqlDatabase();
      },
      teardown: async () => mysql?.drop(),
    },
    {
      name: 'PostgreSQL',
      url: () => postgres!.url,
      setup: async function (this: Mocha.Context) {
        await requireService(this, 'postgres');
        postgres = await createTestPostgresDatabase();
      },
      teardown: async () => postgres?.drop(),
    },
  ];
}
