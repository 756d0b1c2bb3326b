// The feed id an upload fan-out sends with every upload it forwards (docs/contract.md, "fanout"): one per
// fan-out process, so every origin behind it roots its names in the same feed (docs/origin.md, "Names").
export const FEED_HEADER = 'cascade-feed';
export const FEED_ID = /^[A-Za-z0-9_-]{1,64}$/;
