import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('settings')
export class SettingEntity {
  @PrimaryColumn('text') key: string;
  @Column('jsonb') value: unknown;
  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' }) updatedAt: Date;
}

@Entity('out_sms')
export class OutSmsEntity {
  @PrimaryColumn('text', { name: 'mobile_number' }) mobileNumber: string;
  @Column('timestamptz', { name: 'verified_at', default: () => 'now()' }) verifiedAt: Date;
  @Column('text', { name: 'sms_id', nullable: true }) smsId: string | null;
}

@Entity('blacklist_sms')
export class BlacklistEntity {
  @PrimaryColumn('text', { name: 'mobile_number' }) mobileNumber: string;
  @Column('text', { nullable: true }) reason: string | null;
  @Column('text') source: 'auto' | 'manual';
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt: Date;
}
