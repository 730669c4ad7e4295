"""create the catalog tables

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-24 20:25:35.383950
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assessments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('period_start', sa.DateTime(), nullable=True),
    sa.Column('period_end', sa.DateTime(), nullable=True),
    sa.Column('posture', sa.String(length=40), nullable=False),
    sa.Column('likelihood', sa.String(length=40), nullable=False),
    sa.Column('confidence', sa.String(length=20), nullable=False),
    sa.Column('headline', sa.Text(), nullable=False),
    sa.Column('indicators', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('caveats', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessments_site'), ['site'], unique=False)

    op.create_table('change_regions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('polygon', sa.JSON(), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('zone', sa.String(length=200), nullable=True),
    sa.Column('before_image', sa.String(length=64), nullable=False),
    sa.Column('after_image', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('change_regions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_change_regions_site'), ['site'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('track_id', sa.String(length=64), nullable=False),
    sa.Column('cls', sa.String(length=20), nullable=False),
    sa.Column('type', sa.String(length=60), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('zone', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_site'), ['site'], unique=False)

    op.create_table('images',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('acquired', sa.DateTime(), nullable=False),
    sa.Column('datetime_source', sa.String(length=40), nullable=False),
    sa.Column('gsd_m', sa.Float(), nullable=False),
    sa.Column('crs_wkt', sa.Text(), nullable=False),
    sa.Column('crs', sa.String(length=200), nullable=False),
    sa.Column('width_px', sa.Integer(), nullable=False),
    sa.Column('height_px', sa.Integer(), nullable=False),
    sa.Column('bands', sa.Integer(), nullable=False),
    sa.Column('dtype', sa.String(length=20), nullable=False),
    sa.Column('nodata', sa.Float(), nullable=True),
    sa.Column('footprint_wkt', sa.Text(), nullable=False),
    sa.Column('valid_fraction', sa.Float(), nullable=False),
    sa.Column('cloud_cover', sa.Float(), nullable=True),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('tiled', sa.Boolean(), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('ingested', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('checksum')
    )
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_images_acquired'), ['acquired'], unique=False)

    op.create_table('runs',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=True),
    sa.Column('started', sa.DateTime(), nullable=False),
    sa.Column('finished', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('sites',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('polygon_wkt', sa.Text(), nullable=False),
    sa.Column('grid_crs', sa.String(length=100), nullable=False),
    sa.Column('grid_origin_x', sa.Float(), nullable=False),
    sa.Column('grid_origin_y', sa.Float(), nullable=False),
    sa.Column('grid_gsd_m', sa.Float(), nullable=False),
    sa.Column('grid_width_px', sa.Integer(), nullable=False),
    sa.Column('grid_height_px', sa.Integer(), nullable=False),
    sa.Column('reference_image_id', sa.String(length=64), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('tracks',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('cls', sa.String(length=20), nullable=False),
    sa.Column('type', sa.String(length=60), nullable=False),
    sa.Column('sightings', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tracks_site'), ['site'], unique=False)

    op.create_table('alignments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('image_id', sa.String(length=64), nullable=False),
    sa.Column('reference_image_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('dx_px', sa.Float(), nullable=False),
    sa.Column('dy_px', sa.Float(), nullable=False),
    sa.Column('rotation_deg', sa.Float(), nullable=False),
    sa.Column('scale', sa.Float(), nullable=False),
    sa.Column('matrix', sa.JSON(), nullable=False),
    sa.Column('quality', sa.Float(), nullable=False),
    sa.Column('residual_px', sa.Float(), nullable=True),
    sa.Column('windows_used', sa.Integer(), nullable=False),
    sa.Column('windows_total', sa.Integer(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site'], ['sites.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('site', 'image_id')
    )
    with op.batch_alter_table('alignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alignments_site'), ['site'], unique=False)

    op.create_table('analyst_verdicts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('verdict', sa.String(length=40), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('analyst_verdicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analyst_verdicts_event_id'), ['event_id'], unique=False)

    op.create_table('detections',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('image_id', sa.String(length=64), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=True),
    sa.Column('cls', sa.String(length=20), nullable=False),
    sa.Column('type', sa.String(length=60), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('type_score', sa.Float(), nullable=False),
    sa.Column('state_score', sa.Float(), nullable=False),
    sa.Column('cx', sa.Float(), nullable=False),
    sa.Column('cy', sa.Float(), nullable=False),
    sa.Column('length', sa.Float(), nullable=False),
    sa.Column('width', sa.Float(), nullable=False),
    sa.Column('heading_deg', sa.Float(), nullable=False),
    sa.Column('crs', sa.String(length=100), nullable=True),
    sa.Column('win_col', sa.Integer(), nullable=True),
    sa.Column('win_row', sa.Integer(), nullable=True),
    sa.Column('win_width', sa.Integer(), nullable=True),
    sa.Column('win_height', sa.Integer(), nullable=True),
    sa.Column('model_id', sa.String(length=200), nullable=False),
    sa.Column('model_version', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('detections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_detections_image_id'), ['image_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_detections_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_detections_site'), ['site'], unique=False)

    op.create_table('site_images',
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('image_id', sa.String(length=64), nullable=False),
    sa.Column('overlap', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site'], ['sites.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site', 'image_id')
    )
    op.create_table('zones',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=60), nullable=False),
    sa.Column('polygon', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['site'], ['sites.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('site', 'name')
    )
    with op.batch_alter_table('zones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_zones_site'), ['site'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('zones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zones_site'))

    op.drop_table('zones')
    op.drop_table('site_images')
    with op.batch_alter_table('detections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_detections_site'))
        batch_op.drop_index(batch_op.f('ix_detections_run_id'))
        batch_op.drop_index(batch_op.f('ix_detections_image_id'))

    op.drop_table('detections')
    with op.batch_alter_table('analyst_verdicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analyst_verdicts_event_id'))

    op.drop_table('analyst_verdicts')
    with op.batch_alter_table('alignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alignments_site'))

    op.drop_table('alignments')
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tracks_site'))

    op.drop_table('tracks')
    op.drop_table('sites')
    op.drop_table('runs')
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_images_acquired'))

    op.drop_table('images')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_site'))

    op.drop_table('events')
    with op.batch_alter_table('change_regions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_regions_site'))

    op.drop_table('change_regions')
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessments_site'))

    op.drop_table('assessments')
