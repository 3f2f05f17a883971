"""Initial schema: every table of workflows/models.py as of this revision.

Generated with `flask --app web db migrate` on an empty database and read over: constraint
names follow the naming convention of workflows.models.Base (op.f marks them as final), the
CHECK constraints carry their value lists literally (a later change of a list is a new
migration that drops and re-creates the constraint, which autogenerate does not detect).

Revision ID: b16206eb3379
Revises: (none)
Create Date: 2026-11-22 03:28:52.814126

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b16206eb3379'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('documents',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_documents'))
    )
    op.create_table('offices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('number', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('hq', 'province', 'county')", name=op.f('ck_offices_office_kind')),
    sa.ForeignKeyConstraint(['parent_id'], ['offices.id'], name=op.f('fk_offices_parent_id_offices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offices')),
    sa.UniqueConstraint('code', name=op.f('uq_offices_code'))
    )
    op.create_table('process_definitions',
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('process_key', sa.String(length=64), nullable=False),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('sources', sa.Text(), nullable=False),
    sa.Column('deployed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_process_definitions'))
    )
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_definitions_process_key'), ['process_key'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=True),
    sa.Column('agency', sa.String(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('applicant', 'county_officer', 'province_officer', 'hq_auditor', 'admin', 'agency', 'system')", name=op.f('ck_users_user_role')),
    sa.ForeignKeyConstraint(['office_id'], ['offices.id'], name=op.f('fk_users_office_id_offices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_agency'), ['agency'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_office_id'), ['office_id'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('centers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('mosque_name', sa.String(length=200), nullable=False),
    sa.Column('county_office_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=400), nullable=False),
    sa.Column('postal_code', sa.String(length=10), nullable=False),
    sa.Column('applicant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['applicant_id'], ['users.id'], name=op.f('fk_centers_applicant_id_users')),
    sa.ForeignKeyConstraint(['county_office_id'], ['offices.id'], name=op.f('fk_centers_county_office_id_offices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_centers'))
    )
    with op.batch_alter_table('centers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_centers_applicant_id'), ['applicant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_centers_county_office_id'), ['county_office_id'], unique=False)

    op.create_table('signing_keys',
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('public_key_pem', sa.Text(), nullable=False),
    sa.Column('encrypted_private_key', sa.LargeBinary(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_signing_keys_user_id_users')),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_signing_keys'))
    )
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signing_keys_user_id'), ['user_id'], unique=False)

    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('process_key', sa.String(length=64), nullable=False),
    sa.Column('spec_version', sa.String(length=64), nullable=False),
    sa.Column('serializer_version', sa.String(length=32), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=64), nullable=True),
    sa.Column('applicant_id', sa.Integer(), nullable=False),
    sa.Column('county_office_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('center_id', sa.Integer(), nullable=True),
    sa.Column('linked_case_id', sa.Integer(), nullable=True),
    sa.Column('wake_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'inquiries', 'county_review', 'province_review', 'correction', 'acknowledgement', 'awaiting_successor', 'interim_needed', 'licensed', 'appointed', 'closed', 'rejected')", name=op.f('ck_cases_case_status')),
    sa.ForeignKeyConstraint(['applicant_id'], ['users.id'], name=op.f('fk_cases_applicant_id_users')),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], name=op.f('fk_cases_center_id_centers')),
    sa.ForeignKeyConstraint(['county_office_id'], ['offices.id'], name=op.f('fk_cases_county_office_id_offices')),
    sa.ForeignKeyConstraint(['linked_case_id'], ['cases.id'], name=op.f('fk_cases_linked_case_id_cases')),
    sa.ForeignKeyConstraint(['spec_version'], ['process_definitions.version'], name=op.f('fk_cases_spec_version_process_definitions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('public_id', name=op.f('uq_cases_public_id'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_applicant_id'), ['applicant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_center_id'), ['center_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_county_office_id'), ['county_office_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_wake_at'), ['wake_at'], unique=False)

    op.create_table('case_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('original_name', sa.String(length=200), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_documents_case_id_cases')),
    sa.ForeignKeyConstraint(['sha256'], ['documents.sha256'], name=op.f('fk_case_documents_sha256_documents')),
    sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], name=op.f('fk_case_documents_uploaded_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_documents')),
    sa.UniqueConstraint('case_id', 'sha256', name=op.f('uq_case_documents_case_id_sha256'))
    )
    with op.batch_alter_table('case_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_documents_case_id'), ['case_id'], unique=False)

    op.create_table('case_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('lane', sa.String(length=32), nullable=False),
    sa.Column('form_key', sa.String(length=64), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_case_tasks_assignee_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_tasks_case_id_cases')),
    sa.ForeignKeyConstraint(['office_id'], ['offices.id'], name=op.f('fk_case_tasks_office_id_offices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_tasks'))
    )
    with op.batch_alter_table('case_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_tasks_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_tasks_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_tasks_office_id'), ['office_id'], unique=False)

    op.create_table('drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('form_key', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_drafts_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_drafts_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drafts')),
    sa.UniqueConstraint('case_id', 'form_key', 'user_id', name=op.f('uq_drafts_case_id_form_key_user_id'))
    )
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drafts_case_id'), ['case_id'], unique=False)

    op.create_table('inquiries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('agency', sa.String(length=32), nullable=False),
    sa.Column('subject_national_id', sa.String(length=10), nullable=False),
    sa.Column('subject_name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=True),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("result IS NULL OR result IN ('clear', 'not_clear')", name=op.f('ck_inquiries_inquiry_result')),
    sa.CheckConstraint("status IN ('pending', 'answered', 'withdrawn')", name=op.f('ck_inquiries_inquiry_status')),
    sa.ForeignKeyConstraint(['answered_by'], ['users.id'], name=op.f('fk_inquiries_answered_by_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_inquiries_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inquiries'))
    )
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.create_index('ix_inquiries_agency_status', ['agency', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_inquiries_case_id'), ['case_id'], unique=False)

    op.create_table('licenses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'suspended', 'dissolved')", name=op.f('ck_licenses_license_status')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_licenses_case_id_cases')),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], name=op.f('fk_licenses_center_id_centers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licenses')),
    sa.UniqueConstraint('number', name=op.f('uq_licenses_number'))
    )
    with op.batch_alter_table('licenses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_licenses_center_id'), ['center_id'], unique=False)

    op.create_table('manager_terms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('national_id', sa.String(length=10), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('end_reason', sa.String(length=16), nullable=True),
    sa.Column('interim', sa.Boolean(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('ended_by_case_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("end_reason IS NULL OR end_reason IN ('replaced', 'retired', 'resigned')", name=op.f('ck_manager_terms_term_end_reason')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_manager_terms_case_id_cases')),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], name=op.f('fk_manager_terms_center_id_centers')),
    sa.ForeignKeyConstraint(['ended_by_case_id'], ['cases.id'], name=op.f('fk_manager_terms_ended_by_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manager_terms'))
    )
    with op.batch_alter_table('manager_terms', schema=None) as batch_op:
        batch_op.create_index('ix_manager_terms_center_current', ['center_id'], unique=True, sqlite_where=sa.text('end_date IS NULL'), postgresql_where=sa.text('end_date IS NULL'))
        batch_op.create_index(batch_op.f('ix_manager_terms_national_id'), ['national_id'], unique=False)

    op.create_table('records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('task_name', sa.String(length=64), nullable=True),
    sa.Column('actor_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('canonical', sa.Text(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('form_data', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_records_actor_user_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_records_case_id_cases')),
    sa.ForeignKeyConstraint(['key_id'], ['signing_keys.key_id'], name=op.f('fk_records_key_id_signing_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_records')),
    sa.UniqueConstraint('case_id', 'seq', name=op.f('uq_records_case_id_seq')),
    sa.UniqueConstraint('hash', name=op.f('uq_records_hash'))
    )
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_records_actor_user_id'), ['actor_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_records_case_id'), ['case_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_records_case_id'))
        batch_op.drop_index(batch_op.f('ix_records_actor_user_id'))

    op.drop_table('records')
    with op.batch_alter_table('manager_terms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_manager_terms_national_id'))
        batch_op.drop_index('ix_manager_terms_center_current', sqlite_where=sa.text('end_date IS NULL'), postgresql_where=sa.text('end_date IS NULL'))

    op.drop_table('manager_terms')
    with op.batch_alter_table('licenses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_licenses_center_id'))

    op.drop_table('licenses')
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inquiries_case_id'))
        batch_op.drop_index('ix_inquiries_agency_status')

    op.drop_table('inquiries')
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drafts_case_id'))

    op.drop_table('drafts')
    with op.batch_alter_table('case_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_tasks_office_id'))
        batch_op.drop_index(batch_op.f('ix_case_tasks_case_id'))
        batch_op.drop_index(batch_op.f('ix_case_tasks_assignee_id'))

    op.drop_table('case_tasks')
    with op.batch_alter_table('case_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_documents_case_id'))

    op.drop_table('case_documents')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_wake_at'))
        batch_op.drop_index(batch_op.f('ix_cases_status'))
        batch_op.drop_index(batch_op.f('ix_cases_county_office_id'))
        batch_op.drop_index(batch_op.f('ix_cases_center_id'))
        batch_op.drop_index(batch_op.f('ix_cases_applicant_id'))

    op.drop_table('cases')
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signing_keys_user_id'))

    op.drop_table('signing_keys')
    with op.batch_alter_table('centers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_centers_county_office_id'))
        batch_op.drop_index(batch_op.f('ix_centers_applicant_id'))

    op.drop_table('centers')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_office_id'))
        batch_op.drop_index(batch_op.f('ix_users_agency'))

    op.drop_table('users')
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_definitions_process_key'))

    op.drop_table('process_definitions')
    op.drop_table('offices')
    op.drop_table('documents')
