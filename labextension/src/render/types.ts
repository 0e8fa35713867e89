/**
 * The display MIME payloads (docs/ARCHITECTURE.md, "Display MIME payloads"): the contract between
 * the Python display objects and these renderers.
 */

export const TOKEN_MIME = 'application/vnd.wif.token+json';
export const FLOW_MIME = 'application/vnd.wif.flow+json';
export const STATUS_MIME = 'application/vnd.wif.status+json';

export interface ITokenSegments {
  header: string;
  payload: string;
  signature: string;
}

export interface IClaimExplanation {
  claim: string;
  value?: unknown;
  meaning: string;
}

export interface IValidity {
  iat?: number | null;
  nbf?: number | null;
  exp?: number | null;
  now?: number | null;
  reauth_at?: number | null;
}

export interface IRuleResult {
  rule: string;
  title?: string;
  /** true passed, false failed, null skipped (an earlier rule already failed). */
  passed: boolean | null;
  detail?: string | null;
}

export interface IVerdict {
  provider?: { issuer?: string; audience?: string } | null;
  ok: boolean;
  rules: IRuleResult[];
}

export interface ITokenPayload {
  version: number;
  token: { redacted: string; segments: ITokenSegments };
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  explanations?: IClaimExplanation[];
  validity?: IValidity | null;
  verdict?: IVerdict | null;
  source?: {
    method?: string;
    principal?: string;
    issuer?: string;
    elapsed_ms?: number;
  } | null;
}

export interface IFlowMessage {
  t: number;
  from: string;
  to: string;
  label: string;
  detail?: string | null;
  kind: 'request' | 'reply' | 'error';
  code?: number | null;
}

export interface IFlowPayload {
  version: number;
  participants: string[];
  messages: IFlowMessage[];
}

export interface IIdpStatus {
  running: boolean;
  pid?: number;
  port?: number;
  base_url?: string;
  issuers?: Record<string, { issuer?: string; audience?: string }>;
}

export interface IMongodStatus {
  running: boolean;
  kind?: string;
  pid?: number;
  port?: number;
  mongodb_uri?: string;
}

export interface ILessonStatus {
  id: string;
  title: string;
  path: string;
  done: number;
  total: number;
}

export interface IStatusPayload {
  version: number;
  state_dir: string;
  services: { idp: IIdpStatus; mongod: IMongodStatus };
  lessons: ILessonStatus[];
}

export const PICTURE_MIME = 'application/vnd.wif.picture+json';

/** A picture (wif_notebook.plots.Picture): a PNG per theme, transparent, and its text alternative. */
export interface IPicturePayload {
  version: number;
  alt: string;
  width?: number;
  height?: number;
  /** base64 PNGs */
  light: string;
  dark: string;
}
