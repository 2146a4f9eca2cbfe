// Every migration, in order. Written by hand (see src/database/README.md); add a new one at the end.
import { Onboarding1763770000000 } from './1763770000000-onboarding';
import { Messages1763780000000 } from './1763780000000-messages';
import { Otp1763790000000 } from './1763790000000-otp';
import { OtpFailures1764700000000 } from './1764700000000-otp-failures';
import { BlacklistExpiry1764710000000 } from './1764710000000-blacklist-expiry';
import { MessagesDue1764720000000 } from './1764720000000-messages-due';
import { MessageCallbackCursor1764730000000 } from './1764730000000-message-callback-cursor';
import { PartitionedHistory1764740000000 } from './1764740000000-partitioned-history';
import { MessageSegmentsValidity1764750000000 } from './1764750000000-message-segments-validity';
import { Templates1764760000000 } from './1764760000000-templates';
import { CallbackRetries1764770000000 } from './1764770000000-callback-retries';
import { MessageAttempts1764780000000 } from './1764780000000-message-attempts';
import { Suppressions1764790000000 } from './1764790000000-suppressions';

export const MIGRATIONS: (new () => object)[] = [
  Onboarding1763770000000,
  Messages1763780000000,
  Otp1763790000000,
  OtpFailures1764700000000,
  BlacklistExpiry1764710000000,
  MessagesDue1764720000000,
  MessageCallbackCursor1764730000000,
  PartitionedHistory1764740000000,
  MessageSegmentsValidity1764750000000,
  Templates1764760000000,
  CallbackRetries1764770000000,
  MessageAttempts1764780000000,
  Suppressions1764790000000,
];
