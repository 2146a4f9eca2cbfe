// Every TypeORM entity, listed once for the app and the migration CLI.
import { BlacklistEntity, OutSmsEntity, SettingEntity } from '../onboarding/entities/onboarding.entities';

export const ENTITIES: (new () => object)[] = [SettingEntity, OutSmsEntity, BlacklistEntity];
