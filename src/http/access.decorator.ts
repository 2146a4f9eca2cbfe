import { SetMetadata } from '@nestjs/common';

export const ACCESS_KEY = 'smsb:access';
/** Who may call a route: anyone, an API client, an admin, or an end user with an access token. */
export type Access = 'public' | 'client' | 'admin' | 'end-user' | 'gateway';

/** No API key: health probes, metrics, docs, and provider webhooks (which check their own signature). */
export const Public = () => SetMetadata(ACCESS_KEY, 'public' satisfies Access);
/** A key from ADMIN_API_KEYS. */
export const AdminOnly = () => SetMetadata(ACCESS_KEY, 'admin' satisfies Access);
/** An end-user access token (JWT), checked by the route's own guard instead of an API key. */
export const EndUser = () => SetMetadata(ACCESS_KEY, 'end-user' satisfies Access);
/** A key from GATEWAY_API_KEYS (an SMS gateway asserting that a phone sent an SMS); see ApiKeyGuard. */
export const GatewayOnly = () => SetMetadata(ACCESS_KEY, 'gateway' satisfies Access);
