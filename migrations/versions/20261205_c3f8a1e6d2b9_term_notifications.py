"""A notification may be about a center rather than a case: a manager's term nearing its planned
end, or run out with no renewal or successor (workflows.terms).

Revision ID: c3f8a1e6d2b9
Revises: 9e2b7c4d1a36
Create Date: 2026-12-05 12:40:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c3f8a1e6d2b9'
down_revision = '9e2b7c4d1a36'
branch_labels = None
depends_on = None

BEFORE = ('task', 'returned', 'decision', 'outcome', 'overdue', 'message')
KINDS = BEFORE + ('term_reminder', 'term_expired', 'interim_expired')


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('center_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_notifications_center_id_centers'), 'centers', ['center_id'], ['id'])
        batch_op.drop_constraint(op.f('ck_notifications_notification_kind'), type_='check')
        batch_op.create_check_constraint('notification_kind', f"kind IN {KINDS}")


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_notification_kind'), type_='check')
        batch_op.create_check_constraint('notification_kind', f"kind IN {BEFORE}")
        batch_op.drop_constraint(batch_op.f('fk_notifications_center_id_centers'), type_='foreignkey')
        batch_op.drop_column('center_id')
