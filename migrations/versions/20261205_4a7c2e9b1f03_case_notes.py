"""The words of the offices' notes and messages on a case; the records that sign them hold their digest.
A message to the applicant is a kind of notification.

Revision ID: 4a7c2e9b1f03
Revises: b7e3a9c1d5f2
Create Date: 2026-12-05 08:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '4a7c2e9b1f03'
down_revision = 'b7e3a9c1d5f2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_notes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_notes_case_id_cases')),
        sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_case_notes_record_id_records')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_notes')),
        sa.UniqueConstraint('record_id', name=op.f('uq_case_notes_record_id')),
    )
    with op.batch_alter_table('case_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_notes_case_id'), ['case_id'], unique=False)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_notification_kind'), type_='check')
        batch_op.create_check_constraint(
            'notification_kind', "kind IN ('task', 'returned', 'decision', 'outcome', 'overdue', 'message')")


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_notification_kind'), type_='check')
        batch_op.create_check_constraint(
            'notification_kind', "kind IN ('task', 'returned', 'decision', 'outcome', 'overdue')")
    with op.batch_alter_table('case_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_notes_case_id'))
    op.drop_table('case_notes')
